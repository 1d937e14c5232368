using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>
/// The Llama-family decoder (Llama, Qwen2 with q/k/v bias, Mistral, SmolLM, TinyLlama layouts): RMSNorm, RoPE,
/// SwiGLU MLP, grouped-query attention, tied or untied LM head. Parameter names are the HF keys
/// (<c>model.embed_tokens.weight</c>, <c>model.layers.0.self_attn.q_proj.weight</c>, ..., <c>lm_head.weight</c>).
/// Forward does not force <c>no_grad</c>: a training tool runs it under autograd without a cache.
/// </summary>
public sealed class LlamaForCausalLM : CausalLMBase
{
    private readonly LlamaModel _model;
    private readonly Linear? _lmHead; // null when tied to the embedding

    public LlamaForCausalLM(ModelConfig config, Device device, ScalarType dtype) : base(nameof(LlamaForCausalLM), config, device, dtype)
    {
        if (config.Architecture != ModelArchitecture.Llama)
            throw new ArgumentException($"model_type '{config.ModelType}' is not a Llama-family model", nameof(config));
        _model = new LlamaModel(config, device, dtype);
        register_module("model", _model);
        if (!config.TieWordEmbeddings)
        {
            _lmHead = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false, device: device, dtype: dtype);
            register_module("lm_head", _lmHead);
        }
        _scriptWeights = ScriptWeights();
        _scriptConstants = torch.tensor(new double[] { config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim, config.NumHiddenLayers,
            config.NormEps, 1.0 / Math.Sqrt(config.HeadDim) }, ScalarType.Float64).DetachFromDisposeScope();
    }

    public override bool IsIgnorableCheckpointKey(string key) =>
        key.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) || (Config.TieWordEmbeddings && key == "lm_head.weight");

    private readonly Tensor[] _scriptWeights;   // the parameters in the compiled forward's order
    private readonly Tensor _scriptConstants;   // [6] float64: heads, kv heads, head dim, layers, norm eps, attention scale

    /// <summary>
    /// The compiled forward (<see cref="ScriptedLlamaForward"/>) runs for the common Llama layout: no q/k/v/o or MLP
    /// biases (Qwen2's q/k/v bias and Llama's attention_bias run eager), gradients off.
    /// </summary>
    protected override bool CompiledForwardApplies =>
        CompiledForwardEnabled && !Config.AttentionBias && !Config.MlpBias && !torch.is_grad_enabled();

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
        var args = stackalloc ScriptArgument[12];
        args[0] = ScriptArgument.Of(tokens);
        args[1] = ScriptArgument.Of(positions);
        args[2] = ScriptArgument.Of(attentionMask);
        args[3] = ScriptArgument.List(weights, weightCount);
        args[4] = ScriptArgument.Of(_model.Rotary.CosTable);
        args[5] = ScriptArgument.Of(_model.Rotary.SinTable);
        args[6] = ScriptArgument.List(keys, cacheLayers);
        args[7] = ScriptArgument.List(values, cacheLayers);
        args[8] = ScriptArgument.Of(_scriptConstants);
        args[9] = ScriptArgument.Of(call);
        if (into is not null)
        {
            args[10] = ScriptArgument.Of(into.Logits);
            args[11] = ScriptArgument.Of(into.Hidden ?? into.Logits); // unused unless hidden states are asked for
            sbyte code = ScriptedLlamaForward.Script.Invoke(ScriptedLlamaForward.ForwardInto, args, 12);
            if (code != NativeScript.ReturnsNone) throw new InvalidOperationException($"forward_into returned type code {code}, expected none");
            logits = hidden = null;
        }
        else
        {
            sbyte code = ScriptedLlamaForward.Script.Invoke(ScriptedLlamaForward.Forward, args, 10);
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
        var weights = new List<Tensor> { _model.EmbedTokens.weight!, _model.Norm.Weight, _lmHead?.weight ?? _model.EmbedTokens.weight! };
        for (int i = 0; i < _model.Layers.Count; i++) _model.Layers[i].AddWeights(weights);
        return weights.Select(w => w.DetachFromDisposeScope()).ToArray();
    }

    /// <summary>The LM head's weight, or the tied embedding (the handle the compiled forward already holds).</summary>
    public override Tensor? OutputWeight => _scriptWeights[2];

    protected override Tensor ForwardHidden(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, LayerSkip? skip) =>
        _model.Forward(tokens, positions, attentionMask, cache, skip);

    protected override Tensor ProjectToVocab(Tensor hidden) =>
        _lmHead is not null ? _lmHead.forward(hidden) : nn.functional.linear(hidden, _model.EmbedTokens.weight!);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _model.Rotary.Dispose();
            _scriptConstants.Dispose();
            // TorchSharp's Embedding.weight getter makes a new handle per call: ScriptWeights took one for the embedding
            // (and one more for a tied head); the modules own every other entry.
            _scriptWeights[0].Dispose();
            if (_lmHead is null) _scriptWeights[2].Dispose();
        }
        base.Dispose(disposing);
    }

    private sealed class LlamaModel : nn.Module
    {
        private readonly ModuleStack<DecoderLayer> _layers;
        private readonly RmsNorm _norm;

        public LlamaModel(ModelConfig c, Device device, ScalarType dtype) : base(nameof(LlamaModel))
        {
            EmbedTokens = nn.Embedding(c.VocabSize, c.HiddenSize, device: device, dtype: dtype);
            _layers = new ModuleStack<DecoderLayer>("layers", Enumerable.Range(0, c.NumHiddenLayers).Select(i => new DecoderLayer(c, i, device, dtype)));
            _norm = new RmsNorm(c.HiddenSize, c.NormEps, device, dtype);
            Rotary = new RotaryEmbedding(c.HeadDim, c.MaxPositionEmbeddings, c.RopeTheta, device, dtype);
            register_module("embed_tokens", EmbedTokens);
            register_module("layers", _layers);
            register_module("norm", _norm);
        }

        public Embedding EmbedTokens { get; }
        public RotaryEmbedding Rotary { get; }
        public RmsNorm Norm => _norm;
        public ModuleStack<DecoderLayer> Layers => _layers;

        public Tensor Forward(Tensor tokens, Tensor positions, Tensor mask, KVCache? cache, LayerSkip? skip)
        {
            var h = EmbedTokens.forward(tokens); // [batch, n, hidden]
            var (cos, sin) = Rotary.Lookup(positions);
            for (int i = 0; i < _layers.Count; i++)
                if (!IsSkipped(skip, i)) h = _layers[i].Forward(h, cos, sin, mask, cache);
            return _norm.forward(h);
        }
    }

    private sealed class DecoderLayer : nn.Module
    {
        private readonly RmsNorm _inputNorm, _postAttentionNorm;
        private readonly Attention _attention;
        private readonly Mlp _mlp;

        public DecoderLayer(ModelConfig c, int index, Device device, ScalarType dtype) : base(nameof(DecoderLayer))
        {
            _inputNorm = new RmsNorm(c.HiddenSize, c.NormEps, device, dtype);
            _attention = new Attention(c, index, device, dtype);
            _postAttentionNorm = new RmsNorm(c.HiddenSize, c.NormEps, device, dtype);
            _mlp = new Mlp(c, device, dtype);
            register_module("input_layernorm", _inputNorm);
            register_module("self_attn", _attention);
            register_module("post_attention_layernorm", _postAttentionNorm);
            register_module("mlp", _mlp);
        }

        /// <summary>This layer's weights in <see cref="ScriptedLlamaForward"/>'s order.</summary>
        public void AddWeights(List<Tensor> weights)
        {
            weights.Add(_inputNorm.Weight);
            _attention.AddWeights(weights);
            weights.Add(_postAttentionNorm.Weight);
            _mlp.AddWeights(weights);
        }

        public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KVCache? cache)
        {
            var h = x.add(_attention.Forward(_inputNorm.forward(x), cos, sin, mask, cache), Scalars.One); // explicit alpha: see Scalars
            return h.add(_mlp.forward(_postAttentionNorm.forward(h)), Scalars.One);
        }
    }

    private sealed class Attention : nn.Module
    {
        private readonly Linear _q, _k, _v, _o;
        private readonly int _layer, _heads, _kvHeads, _headDim;

        public Attention(ModelConfig c, int layer, Device device, ScalarType dtype) : base(nameof(Attention))
        {
            _layer = layer; _heads = c.NumAttentionHeads; _kvHeads = c.NumKeyValueHeads; _headDim = c.HeadDim;
            _q = nn.Linear(c.HiddenSize, _heads * _headDim, hasBias: c.AttentionBias, device: device, dtype: dtype);
            _k = nn.Linear(c.HiddenSize, _kvHeads * _headDim, hasBias: c.AttentionBias, device: device, dtype: dtype);
            _v = nn.Linear(c.HiddenSize, _kvHeads * _headDim, hasBias: c.AttentionBias, device: device, dtype: dtype);
            // Qwen2 puts a bias on q/k/v only; Llama's attention_bias covers o_proj too.
            _o = nn.Linear(_heads * _headDim, c.HiddenSize, hasBias: c.AttentionBias && c.ModelType != "qwen2", device: device, dtype: dtype);
            register_module("q_proj", _q);
            register_module("k_proj", _k);
            register_module("v_proj", _v);
            register_module("o_proj", _o);
        }

        public void AddWeights(List<Tensor> weights)
        {
            weights.Add(_q.weight!); weights.Add(_k.weight!); weights.Add(_v.weight!); weights.Add(_o.weight!);
        }

        public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KVCache? cache)
        {
            long batch = x.shape[0], n = x.shape[1];
            var q = _q.forward(x).view(batch, n, _heads, _headDim).transpose(1, 2);   // [batch, heads, n, headDim]
            var k = _k.forward(x).view(batch, n, _kvHeads, _headDim).transpose(1, 2); // [batch, kvHeads, n, headDim]
            var v = _v.forward(x).view(batch, n, _kvHeads, _headDim).transpose(1, 2); // [batch, kvHeads, n, headDim]
            q = RotaryEmbedding.Apply(q, cos, sin);
            k = RotaryEmbedding.Apply(k, cos, sin);
            return _o.forward(Attend(q, k, v, _layer, cache, mask)); // [batch, n, hidden]
        }
    }

    private sealed class Mlp : nn.Module<Tensor, Tensor>
    {
        private readonly Linear _gate, _up, _down;

        public Mlp(ModelConfig c, Device device, ScalarType dtype) : base(nameof(Mlp))
        {
            _gate = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: c.MlpBias, device: device, dtype: dtype);
            _up = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: c.MlpBias, device: device, dtype: dtype);
            _down = nn.Linear(c.IntermediateSize, c.HiddenSize, hasBias: c.MlpBias, device: device, dtype: dtype);
            register_module("gate_proj", _gate);
            register_module("up_proj", _up);
            register_module("down_proj", _down);
        }

        public void AddWeights(List<Tensor> weights)
        {
            weights.Add(_gate.weight!); weights.Add(_up.weight!); weights.Add(_down.weight!);
        }

        // SwiGLU (Shazeer 2020): down(silu(gate(x)) * up(x)).
        public override Tensor forward(Tensor x) => _down.forward(nn.functional.silu(_gate.forward(x)) * _up.forward(x));
    }
}
