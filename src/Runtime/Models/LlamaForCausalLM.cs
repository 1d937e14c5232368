using System.Runtime.InteropServices;
using Pardec.Runtime.Kernels;
using Pardec.Runtime.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>
/// The Llama-family decoder: RMSNorm, RoPE (plain or <c>rope_scaling</c> llama3 / linear / yarn), a gated MLP,
/// grouped-query attention, tied or untied LM head — and the variations of the families that share the layout:
/// Qwen2's q/k/v bias, Qwen3's per-head q/k RMSNorm, Mistral's sliding window, and Gemma 3 text models (embeddings scaled
/// by sqrt(hidden), (1 + w) RMSNorms in float32, norms before and after both sublayers, GELU-tanh, per-head q/k norm,
/// sliding-window layers with their own RoPE base interleaved with global ones). Each follows transformers'
/// <c>modeling_{llama,qwen2,qwen3,mistral,gemma3}.py</c>; parameter names are the HF keys
/// (<c>model.embed_tokens.weight</c>, <c>model.layers.0.self_attn.q_proj.weight</c>, ..., <c>lm_head.weight</c>).
/// Forward does not force <c>no_grad</c>: a training tool runs it under autograd without a cache.
/// With a <see cref="WeightQuantization"/>, the linear layers (and the LM head) are <see cref="QuantizedLinear"/>s: int8
/// or int4 weights multiplied by libtorch's CPU kernels, in the eager modules and the compiled forward alike.
/// </summary>
public sealed class LlamaForCausalLM : CausalLMBase
{
    private readonly LlamaModel _model;
    private readonly nn.Module<Tensor, Tensor>? _lmHead; // null when tied to the embedding and not quantized
    private readonly Tensor _placeholder; // the compiled forward's stand-in for weights an architecture lacks
    private readonly Tensor? _softcap;    // final logit soft-capping (0-dim, model dtype)

    public LlamaForCausalLM(ModelConfig config, Device device, ScalarType dtype, WeightQuantization? quantization = null)
        : base(nameof(LlamaForCausalLM), config, device, dtype)
    {
        if (config.Architecture != ModelArchitecture.Llama)
            throw new ArgumentException($"model_type '{config.ModelType}' is not a Llama-family model", nameof(config));
        quantization ??= WeightQuantization.None;
        quantization.Validate();
        Quantization = quantization;
        _model = new LlamaModel(config, quantization, device, dtype);
        register_module("model", _model);
        // A tied head that is quantized gets its own quantized copy of the embedding (the lookup keeps the float table).
        var headFormat = quantization.For("lm_head", config.VocabSize, config.HiddenSize, isHead: true, dtype);
        if (!config.TieWordEmbeddings || headFormat.Kind != WeightKind.Float)
        {
            _lmHead = Projection.Create(config.HiddenSize, config.VocabSize, hasBias: false, headFormat, device, dtype);
            register_module("lm_head", _lmHead);
        }
        _placeholder = torch.empty(0, dtype, device).DetachFromDisposeScope();
        _scriptWeights = ScriptWeights();
        var constants = new double[(int)ScriptedLlamaForward.Constant.FirstLayerFlag + config.NumHiddenLayers];
        void Set(ScriptedLlamaForward.Constant slot, double value) => constants[(int)slot] = value;
        Set(ScriptedLlamaForward.Constant.Heads, config.NumAttentionHeads);
        Set(ScriptedLlamaForward.Constant.KVHeads, config.NumKeyValueHeads);
        Set(ScriptedLlamaForward.Constant.HeadDim, config.HeadDim);
        Set(ScriptedLlamaForward.Constant.Layers, config.NumHiddenLayers);
        Set(ScriptedLlamaForward.Constant.Eps, config.NormEps);
        Set(ScriptedLlamaForward.Constant.Scale, 1.0 / Math.Sqrt(config.HeadDim));
        Set(ScriptedLlamaForward.Constant.QkvBias, config.QkvBias ? 1 : 0);
        Set(ScriptedLlamaForward.Constant.OBias, config.OutputBias ? 1 : 0);
        Set(ScriptedLlamaForward.Constant.MlpBias, config.MlpBias ? 1 : 0);
        Set(ScriptedLlamaForward.Constant.QkNorm, config.QkNorm ? 1 : 0);
        Set(ScriptedLlamaForward.Constant.Gemma, config.IsGemma ? 1 : 0);
        Set(ScriptedLlamaForward.Constant.GeluTanh, config.HiddenAct == "gelu_pytorch_tanh" ? 1 : 0);
        Set(ScriptedLlamaForward.Constant.QueryMultiplier, QueryMultiplier(config));
        Set(ScriptedLlamaForward.Constant.Softcap, config.FinalLogitSoftcapping ?? 0);
        Set(ScriptedLlamaForward.Constant.Window, config.HasSlidingLayers ? config.SlidingWindow!.Value : 0);
        Set(ScriptedLlamaForward.Constant.EmbedScale, config.IsGemma ? 1 : 0);
        for (int i = 0; i < config.NumHiddenLayers; i++)
            constants[(int)ScriptedLlamaForward.Constant.FirstLayerFlag + i] = config.IsSlidingLayer(i) ? 1 : 0;
        _scriptConstants = torch.tensor(constants, ScalarType.Float64).DetachFromDisposeScope();
        if (config.FinalLogitSoftcapping is double cap) _softcap = torch.tensor(cap, dtype, device).DetachFromDisposeScope();
    }

    /// <summary>
    /// The factor queries are multiplied by so that attention's built-in <c>head_dim^-1/2</c> becomes the model's own
    /// scale (Gemma's <c>query_pre_attn_scalar^-1/2</c>); 1 for every other family.
    /// </summary>
    private static double QueryMultiplier(ModelConfig c) => c.QueryPreAttnScalar is double q && q != c.HeadDim ? Math.Sqrt(c.HeadDim / q) : 1.0;

    public override bool IsIgnorableCheckpointKey(string key) =>
        key.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) || (Config.TieWordEmbeddings && _lmHead is null && key == "lm_head.weight");

    /// <summary>How the linear layers are stored (<see cref="WeightQuantization.None"/>: all in the model dtype).</summary>
    public override WeightQuantization Quantization { get; }

    private readonly Tensor[] _scriptWeights;   // the parameters in the compiled forward's order
    private readonly Tensor _scriptConstants;   // float64: see ScriptedLlamaForward.Constant

    /// <summary>The compiled forward (<see cref="ScriptedLlamaForward"/>) runs every layout here, gradients off.</summary>
    protected override bool CompiledForwardApplies => CompiledForwardEnabled && !torch.is_grad_enabled() && !UsesRowInvariantLinears;

    protected override bool SupportsRowInvariantLinears => true;

    protected override unsafe void ForwardCompiled(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, bool returnHidden,
                                                   LayerSkip? skip, ForwardOutputs? into, out Tensor? logits, out Tensor? hidden)
    {
        int layers = Config.NumHiddenLayers;
        // The per-call values travel in an int64 tensor the cache owns (a forward without a cache, in tests and tools,
        // makes its own): see ScriptedLlamaForward.CallSlots.
        using var uncached = cache is null ? torch.zeros(ScriptedLlamaForward.CallSlots(layers), ScalarType.Int64) : null;
        var call = cache?.CallArguments ?? uncached!;
        var a = MemoryMarshal.Cast<byte, long>(call.bytes);
        a[0] = cache?.Length ?? 0;
        a[1] = cache is null ? 0 : 1;
        a[2] = UsesExplicitAttention ? 1 : 0;
        a[3] = returnHidden ? 1 : 0;
        int skipped = skip?.SkippedLayers.Count ?? 0;
        a[4] = skipped;
        for (int i = 0; i < skipped; i++) a[5 + i] = skip!.SkippedLayers[i];

        // The arguments on the stack, in the script's order: nothing managed is allocated for the call.
        int weightCount = _scriptWeights.Length, cacheLayers = cache is null ? 0 : layers;
        var weights = stackalloc ScriptArgument[weightCount];
        for (int i = 0; i < weightCount; i++) weights[i] = ScriptArgument.Of(_scriptWeights[i]);
        var keys = stackalloc ScriptArgument[Math.Max(1, cacheLayers)];
        var values = stackalloc ScriptArgument[Math.Max(1, cacheLayers)];
        for (int i = 0; i < cacheLayers; i++)
        {
            keys[i] = ScriptArgument.Of(cache!.KeyBuffers[i]);
            values[i] = ScriptArgument.Of(cache.ValueBuffers[i]);
        }
        var rotary = _model.Rotary;
        var local = _model.LocalRotary; // null: the script gathers the global tables once for every layer
        const int n = ScriptedLlamaForward.ForwardArguments;
        var args = stackalloc ScriptArgument[n + 2];
        args[0] = ScriptArgument.Of(tokens);
        args[1] = ScriptArgument.Of(positions);
        args[2] = ScriptArgument.Of(attentionMask);
        args[3] = ScriptArgument.List(weights, weightCount);
        args[4] = ScriptArgument.Of(rotary.CosTable);
        args[5] = ScriptArgument.Of(rotary.SinTable);
        args[6] = ScriptArgument.Of(local?.CosTable ?? _placeholder);
        args[7] = ScriptArgument.Of(local?.SinTable ?? _placeholder);
        args[8] = ScriptArgument.List(keys, cacheLayers);
        args[9] = ScriptArgument.List(values, cacheLayers);
        args[10] = ScriptArgument.Of(cache?.KeyPositions ?? positions);
        args[11] = ScriptArgument.Of(_scriptConstants);
        args[12] = ScriptArgument.Of(call);
        if (into is not null)
        {
            args[n] = ScriptArgument.Of(into.Logits);
            args[n + 1] = ScriptArgument.Of(into.Hidden ?? into.Logits); // unused unless hidden states are asked for
            sbyte code = ScriptedLlamaForward.Script.Invoke(ScriptedLlamaForward.ForwardInto, args, n + 2);
            if (code != NativeScript.ReturnsNone) throw new InvalidOperationException($"forward_into returned type code {code}, expected none");
            logits = hidden = null;
        }
        else
        {
            sbyte code = ScriptedLlamaForward.Script.Invoke(ScriptedLlamaForward.Forward, args, n);
            var results = NativeScript.Results;
            if (code != NativeScript.ReturnsTensorList || results.Length != (returnHidden ? 2 : 1))
                throw new InvalidOperationException($"forward returned type code {code} with {results.Length} results");
            logits = Tensor.UnsafeCreateTensor(results[0].Handle);
            hidden = returnHidden ? Tensor.UnsafeCreateTensor(results[1].Handle) : null;
        }
        // The handles above were read from these tensors; they must outlive the native call.
        GC.KeepAlive(tokens); GC.KeepAlive(positions); GC.KeepAlive(attentionMask); GC.KeepAlive(call);
        GC.KeepAlive(cache); GC.KeepAlive(into);
    }

    // The parameters in the compiled forward's order. Made with the model: some module getters wrap the parameter in a
    // new handle, which a forward's dispose scope would free (hence detached), and handles created lazily on the first
    // forward would look like a leak to a caller counting live tensors.
    private Tensor[] ScriptWeights()
    {
        var weights = new List<Tensor>
        {
            _model.EmbedTokens.weight!, _model.Norm.Weight, _lmHead is null ? _model.EmbedTokens.weight! : Projection.Weight(_lmHead),
            _model.EmbedScale ?? _placeholder, _lmHead is null ? _placeholder : Projection.Scales(_lmHead, _placeholder),
        };
        for (int i = 0; i < _model.Layers.Count; i++) _model.Layers[i].AddWeights(weights, _placeholder);
        return weights.Select(w => w.DetachFromDisposeScope()).ToArray();
    }

    /// <summary>The LM head's weight, or the tied embedding (the handle the compiled forward already holds); null when
    /// the head is quantized (a float matmul by it would be wrong).</summary>
    public override Tensor? OutputWeight => _lmHead is QuantizedLinear ? null : _scriptWeights[2];

    protected override Tensor ForwardHidden(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, LayerSkip? skip) =>
        _model.Forward(tokens, positions, attentionMask, cache, skip, UsesRowInvariantLinears);

    protected override Tensor ProjectToVocab(Tensor hidden)
    {
        bool rowInvariant = UsesRowInvariantLinears;
        Tensor logits;
        if (_lmHead is not null) logits = Projection.Forward(_lmHead, hidden, rowInvariant);
        else
        {
            var embedding = _scriptWeights[2]; // the tied embedding: the handle the model holds (the module's getter makes a new one per call)
            logits = rowInvariant && RowInvariantLinear.Applies(hidden, embedding) ? RowInvariantLinear.Forward(hidden, embedding) : nn.functional.linear(hidden, _model.EmbedTokens.weight!);
        }
        // Soft-capping, as transformers: logits / cap, tanh, * cap, in the model dtype.
        return _softcap is null ? logits : (logits / _softcap).tanh_() * _softcap;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _model.Rotary.Dispose();
            _model.LocalRotary?.Dispose();
            _model.EmbedScale?.Dispose();
            _softcap?.Dispose();
            _scriptConstants.Dispose();
            // TorchSharp's Embedding.weight getter makes a new handle per call: ScriptWeights took one for the embedding
            // (and one more for a tied head); the modules own every other entry but the placeholder.
            _scriptWeights[0].Dispose();
            if (_lmHead is null) _scriptWeights[2].Dispose();
            _placeholder.Dispose();
        }
        base.Dispose(disposing);
    }

    private sealed class LlamaModel : nn.Module
    {
        private readonly ModuleStack<DecoderLayer> _layers;
        private readonly RmsNorm _norm;
        private readonly ModelConfig _config;

        public LlamaModel(ModelConfig c, WeightQuantization quantization, Device device, ScalarType dtype) : base(nameof(LlamaModel))
        {
            _config = c;
            EmbedTokens = nn.Embedding(c.VocabSize, c.HiddenSize, device: device, dtype: dtype);
            _layers = new ModuleStack<DecoderLayer>("layers", Enumerable.Range(0, c.NumHiddenLayers).Select(i => new DecoderLayer(c, i, quantization, device, dtype)));
            _norm = new RmsNorm(c.HiddenSize, c.NormEps, device, dtype, c.IsGemma);
            Rotary = new RotaryEmbedding(c.HeadDim, c.MaxPositionEmbeddings, c.RopeTheta, device, dtype, c.RopeScaling);
            // Gemma 3's sliding-window layers rotate with their own base and no scaling.
            if (c.RopeLocalTheta is double local) LocalRotary = new RotaryEmbedding(c.HeadDim, c.MaxPositionEmbeddings, local, device, dtype);
            // Gemma scales embeddings by sqrt(hidden), rounded to the weights' dtype as transformers does (a float32
            // buffer cast to the embedding dtype at each forward).
            if (c.IsGemma)
                using (var scale = torch.tensor((float)Math.Sqrt(c.HiddenSize), ScalarType.Float32))
                    EmbedScale = scale.to(dtype, device).DetachFromDisposeScope();
            register_module("embed_tokens", EmbedTokens);
            register_module("layers", _layers);
            register_module("norm", _norm);
        }

        public Embedding EmbedTokens { get; }
        public RotaryEmbedding Rotary { get; }
        public RotaryEmbedding? LocalRotary { get; }
        public Tensor? EmbedScale { get; }
        public RmsNorm Norm => _norm;
        public ModuleStack<DecoderLayer> Layers => _layers;

        public Tensor Forward(Tensor tokens, Tensor positions, Tensor mask, KVCache? cache, LayerSkip? skip, bool rowInvariant)
        {
            var h = EmbedTokens.forward(tokens); // [batch, n, hidden]
            if (EmbedScale is not null) h = h * EmbedScale;
            var (cos, sin) = Rotary.Lookup(positions);
            var (cosLocal, sinLocal) = LocalRotary is not null ? LocalRotary.Lookup(positions) : (cos, sin);
            var windowMask = _config.HasSlidingLayers ? WindowMask(positions, mask, cache, _config.SlidingWindow!.Value) : mask;
            for (int i = 0; i < _layers.Count; i++)
            {
                if (IsSkipped(skip, i)) continue;
                bool sliding = _config.IsSlidingLayer(i);
                h = sliding
                    ? _layers[i].Forward(h, cosLocal, sinLocal, windowMask, cache, rowInvariant)
                    : _layers[i].Forward(h, cos, sin, mask, cache, rowInvariant);
            }
            return _norm.forward(h);
        }

        // The mask of a sliding-window layer: the caller's mask, and a key at position j is visible from position p only
        // if p - j < window (transformers' sliding_window_causal_mask_function). Key positions come from the cache, which
        // records them, because a token tree's compaction and ragged batch rows make a slot's index differ from its position.
        private static Tensor WindowMask(Tensor positions, Tensor mask, KVCache? cache, int window)
        {
            var keyPositions = cache is not null ? cache.AppendPositions(positions) : positions;                 // [batch, total]
            var within = (positions.unsqueeze(2) - keyPositions.unsqueeze(1)).lt(window).unsqueeze(1);          // [batch, 1, n, total]
            return mask.dtype == ScalarType.Bool
                ? mask.logical_and(within)
                : mask.masked_fill(within.logical_not(), Scalars.NegativeInfinity);
        }
    }

    private sealed class DecoderLayer : nn.Module
    {
        private readonly RmsNorm _inputNorm, _postAttentionNorm;
        private readonly RmsNorm? _preFeedforwardNorm, _postFeedforwardNorm; // Gemma's sandwich norms
        private readonly Attention _attention;
        private readonly Mlp _mlp;

        public DecoderLayer(ModelConfig c, int index, WeightQuantization quantization, Device device, ScalarType dtype) : base(nameof(DecoderLayer))
        {
            _inputNorm = new RmsNorm(c.HiddenSize, c.NormEps, device, dtype, c.IsGemma);
            _attention = new Attention(c, index, quantization, device, dtype);
            _postAttentionNorm = new RmsNorm(c.HiddenSize, c.NormEps, device, dtype, c.IsGemma);
            _mlp = new Mlp(c, index, quantization, device, dtype);
            register_module("input_layernorm", _inputNorm);
            register_module("self_attn", _attention);
            register_module("post_attention_layernorm", _postAttentionNorm);
            if (c.IsGemma)
            {
                _preFeedforwardNorm = new RmsNorm(c.HiddenSize, c.NormEps, device, dtype, offsetOne: true);
                _postFeedforwardNorm = new RmsNorm(c.HiddenSize, c.NormEps, device, dtype, offsetOne: true);
                register_module("pre_feedforward_layernorm", _preFeedforwardNorm);
                register_module("post_feedforward_layernorm", _postFeedforwardNorm);
            }
            register_module("mlp", _mlp);
        }

        /// <summary>This layer's weights in <see cref="ScriptedLlamaForward.LayerSlot"/> order (absent ones as <paramref name="none"/>).</summary>
        public void AddWeights(List<Tensor> weights, Tensor none)
        {
            var slots = new Tensor[ScriptedLlamaForward.PerLayer];
            Array.Fill(slots, none);
            slots[(int)ScriptedLlamaForward.LayerSlot.InputNorm] = _inputNorm.Weight;
            _attention.AddWeights(slots, none);
            slots[(int)ScriptedLlamaForward.LayerSlot.PostAttentionNorm] = _postAttentionNorm.Weight;
            if (_preFeedforwardNorm is not null) slots[(int)ScriptedLlamaForward.LayerSlot.PreFeedforwardNorm] = _preFeedforwardNorm.Weight;
            if (_postFeedforwardNorm is not null) slots[(int)ScriptedLlamaForward.LayerSlot.PostFeedforwardNorm] = _postFeedforwardNorm.Weight;
            _mlp.AddWeights(slots, none);
            weights.AddRange(slots);
        }

        public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KVCache? cache, bool rowInvariant)
        {
            // explicit alpha on every add: see Scalars
            if (_preFeedforwardNorm is null)
            {
                var h = x.add(_attention.Forward(_inputNorm.forward(x), cos, sin, mask, cache, rowInvariant), Scalars.One);
                return h.add(_mlp.Forward(_postAttentionNorm.forward(h), rowInvariant), Scalars.One);
            }
            // Gemma: norm(sublayer(norm(x))) on both sublayers.
            var g = x.add(_postAttentionNorm.forward(_attention.Forward(_inputNorm.forward(x), cos, sin, mask, cache, rowInvariant)), Scalars.One);
            return g.add(_postFeedforwardNorm!.forward(_mlp.Forward(_preFeedforwardNorm.forward(g), rowInvariant)), Scalars.One);
        }
    }

    private sealed class Attention : nn.Module
    {
        private readonly nn.Module<Tensor, Tensor> _q, _k, _v, _o;
        private readonly RmsNorm? _qNorm, _kNorm; // Qwen3 / Gemma 3: RMSNorm over each head's vector, before RoPE
        private readonly int _layer, _heads, _kvHeads, _headDim;
        private readonly Scalar? _queryMultiplier;

        public Attention(ModelConfig c, int layer, WeightQuantization quantization, Device device, ScalarType dtype) : base(nameof(Attention))
        {
            _layer = layer; _heads = c.NumAttentionHeads; _kvHeads = c.NumKeyValueHeads; _headDim = c.HeadDim;
            string prefix = $"model.layers.{layer}.self_attn.";
            nn.Module<Tensor, Tensor> Linear(string name, long inF, long outF, bool bias) =>
                Projection.Create(inF, outF, bias, quantization.For(prefix + name, outF, inF, isHead: false, dtype), device, dtype);
            _q = Linear("q_proj", c.HiddenSize, _heads * _headDim, c.QkvBias);
            _k = Linear("k_proj", c.HiddenSize, _kvHeads * _headDim, c.QkvBias);
            _v = Linear("v_proj", c.HiddenSize, _kvHeads * _headDim, c.QkvBias);
            // Qwen2 puts a bias on q/k/v only; Llama's attention_bias covers o_proj too.
            _o = Linear("o_proj", _heads * _headDim, c.HiddenSize, c.OutputBias);
            register_module("q_proj", _q);
            register_module("k_proj", _k);
            register_module("v_proj", _v);
            register_module("o_proj", _o);
            if (c.QkNorm)
            {
                _qNorm = new RmsNorm(_headDim, c.NormEps, device, dtype, c.IsGemma);
                _kNorm = new RmsNorm(_headDim, c.NormEps, device, dtype, c.IsGemma);
                register_module("q_norm", _qNorm);
                register_module("k_norm", _kNorm);
            }
            double multiplier = QueryMultiplier(c);
            if (multiplier != 1.0) _queryMultiplier = multiplier;
        }

        public void AddWeights(Tensor[] slots, Tensor none)
        {
            Projection.AddSlots(slots, _q, ScriptedLlamaForward.LayerSlot.Q, ScriptedLlamaForward.LayerSlot.QBias, ScriptedLlamaForward.LayerSlot.QScale, none);
            Projection.AddSlots(slots, _k, ScriptedLlamaForward.LayerSlot.K, ScriptedLlamaForward.LayerSlot.KBias, ScriptedLlamaForward.LayerSlot.KScale, none);
            Projection.AddSlots(slots, _v, ScriptedLlamaForward.LayerSlot.V, ScriptedLlamaForward.LayerSlot.VBias, ScriptedLlamaForward.LayerSlot.VScale, none);
            Projection.AddSlots(slots, _o, ScriptedLlamaForward.LayerSlot.O, ScriptedLlamaForward.LayerSlot.OBias, ScriptedLlamaForward.LayerSlot.OScale, none);
            if (_qNorm is not null)
            {
                slots[(int)ScriptedLlamaForward.LayerSlot.QNorm] = _qNorm.Weight;
                slots[(int)ScriptedLlamaForward.LayerSlot.KNorm] = _kNorm!.Weight;
            }
        }

        public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KVCache? cache, bool rowInvariant)
        {
            long batch = x.shape[0], n = x.shape[1];
            var q = Projection.Forward(_q, x, rowInvariant).view(batch, n, _heads, _headDim);                    // [batch, n, heads, headDim]
            var k = Projection.Forward(_k, x, rowInvariant).view(batch, n, _kvHeads, _headDim);                  // [batch, n, kvHeads, headDim]
            var v = Projection.Forward(_v, x, rowInvariant).view(batch, n, _kvHeads, _headDim).transpose(1, 2);  // [batch, kvHeads, n, headDim]
            if (_qNorm is not null) { q = _qNorm.forward(q); k = _kNorm!.forward(k); }
            q = RotaryEmbedding.Apply(q.transpose(1, 2), cos, sin);                   // [batch, heads, n, headDim]
            k = RotaryEmbedding.Apply(k.transpose(1, 2), cos, sin);                   // [batch, kvHeads, n, headDim]
            if (_queryMultiplier is not null) q = q.mul(_queryMultiplier);
            return Projection.Forward(_o, Attend(q, k, v, _layer, cache, mask, rowInvariant), rowInvariant); // [batch, n, hidden]
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _queryMultiplier?.Dispose();
            base.Dispose(disposing);
        }
    }

    private sealed class Mlp : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> _gate, _up, _down;
        private readonly bool _geluTanh;

        public Mlp(ModelConfig c, int layer, WeightQuantization quantization, Device device, ScalarType dtype) : base(nameof(Mlp))
        {
            string prefix = $"model.layers.{layer}.mlp.";
            nn.Module<Tensor, Tensor> Linear(string name, long inF, long outF) =>
                Projection.Create(inF, outF, c.MlpBias, quantization.For(prefix + name, outF, inF, isHead: false, dtype), device, dtype);
            _gate = Linear("gate_proj", c.HiddenSize, c.IntermediateSize);
            _up = Linear("up_proj", c.HiddenSize, c.IntermediateSize);
            _down = Linear("down_proj", c.IntermediateSize, c.HiddenSize);
            _geluTanh = c.HiddenAct == "gelu_pytorch_tanh";
            register_module("gate_proj", _gate);
            register_module("up_proj", _up);
            register_module("down_proj", _down);
        }

        public void AddWeights(Tensor[] slots, Tensor none)
        {
            Projection.AddSlots(slots, _gate, ScriptedLlamaForward.LayerSlot.Gate, ScriptedLlamaForward.LayerSlot.GateBias, ScriptedLlamaForward.LayerSlot.GateScale, none);
            Projection.AddSlots(slots, _up, ScriptedLlamaForward.LayerSlot.Up, ScriptedLlamaForward.LayerSlot.UpBias, ScriptedLlamaForward.LayerSlot.UpScale, none);
            Projection.AddSlots(slots, _down, ScriptedLlamaForward.LayerSlot.Down, ScriptedLlamaForward.LayerSlot.DownBias, ScriptedLlamaForward.LayerSlot.DownScale, none);
        }

        // SwiGLU (Shazeer 2020): down(silu(gate(x)) * up(x)); Gemma's GeGLU uses GELU (tanh approximation) instead.
        public override Tensor forward(Tensor x) => Forward(x, rowInvariant: false);

        public Tensor Forward(Tensor x, bool rowInvariant)
        {
            var g = Projection.Forward(_gate, x, rowInvariant);
            var u = Projection.Forward(_up, x, rowInvariant);
            if (rowInvariant && !_geluTanh && RowInvariantActivations.Applies(g, u))
                return Projection.Forward(_down, RowInvariantActivations.SiluTimes(g, u), rowInvariant);
            g = _geluTanh ? nn.functional.gelu(g, GELU.Approximate.tanh) : nn.functional.silu(g);
            return Projection.Forward(_down, g * u, rowInvariant);
        }
    }
}

/// <summary>A linear layer of the Llama decoder: <c>nn.Linear</c> in the model dtype, or a <see cref="QuantizedLinear"/>.</summary>
internal static class Projection
{
    public static nn.Module<Tensor, Tensor> Create(long inFeatures, long outFeatures, bool hasBias, LinearFormat format, Device device, ScalarType dtype) =>
        format.Kind == WeightKind.Float
            ? nn.Linear(inFeatures, outFeatures, hasBias: hasBias, device: device, dtype: dtype)
            : new QuantizedLinear(inFeatures, outFeatures, hasBias, format, device, dtype);

    /// <summary>The layer's forward; with <paramref name="rowInvariant"/> a float32 CPU <c>nn.Linear</c> runs
    /// <see cref="RowInvariantLinear"/> instead (see <see cref="CausalLMBase.RowInvariantLinears"/>).</summary>
    public static Tensor Forward(nn.Module<Tensor, Tensor> m, Tensor x, bool rowInvariant) =>
        rowInvariant && m is Linear l && RowInvariantLinear.Applies(x, l.weight!) ? RowInvariantLinear.Forward(x, l.weight!, l.bias) : m.forward(x);

    public static Tensor Weight(nn.Module<Tensor, Tensor> m) => m switch
    {
        Linear l => l.weight!,
        QuantizedLinear q => q.KernelWeight,
        _ => throw new InvalidOperationException(m.GetType().Name),
    };

    public static Tensor? Bias(nn.Module<Tensor, Tensor> m) => m switch { Linear l => l.bias, QuantizedLinear q => q.Bias, _ => null };

    public static Tensor Scales(nn.Module<Tensor, Tensor> m, Tensor none) => m is QuantizedLinear q ? q.KernelScales : none;

    /// <summary>Fills this linear's weight, bias (if any) and scale slots of the compiled forward.</summary>
    public static void AddSlots(Tensor[] slots, nn.Module<Tensor, Tensor> m, ScriptedLlamaForward.LayerSlot weight, ScriptedLlamaForward.LayerSlot bias,
                                ScriptedLlamaForward.LayerSlot scale, Tensor none)
    {
        slots[(int)weight] = Weight(m);
        if (Bias(m) is { } b) slots[(int)bias] = b;
        slots[(int)scale] = Scales(m, none);
    }
}
