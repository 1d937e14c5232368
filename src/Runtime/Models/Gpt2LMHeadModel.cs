using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>
/// GPT-2 (Radford et al. 2019): pre-LayerNorm blocks, learned positions, fused QKV, tanh-approximated GELU, LM head
/// tied to <c>transformer.wte</c>. Parameter names are the HF keys; HF stores the Conv1D weights (<c>c_attn</c>,
/// <c>c_proj</c>, <c>c_fc</c>) as <c>[in, out]</c>, which <see cref="IsStoredTransposed"/> reports so that loaders
/// transpose them into these <c>[out, in]</c> Linear weights.
/// </summary>
public sealed class Gpt2LMHeadModel : CausalLMBase
{
    private readonly Gpt2Model _transformer;
    private readonly Linear? _lmHead;

    public Gpt2LMHeadModel(ModelConfig config, Device device, ScalarType dtype) : base(nameof(Gpt2LMHeadModel), config, device, dtype)
    {
        if (config.Architecture != ModelArchitecture.Gpt2)
            throw new ArgumentException($"model_type '{config.ModelType}' is not GPT-2", nameof(config));
        _transformer = new Gpt2Model(config, device, dtype);
        register_module("transformer", _transformer);
        if (!config.TieWordEmbeddings)
        {
            _lmHead = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false, device: device, dtype: dtype);
            register_module("lm_head", _lmHead);
        }
    }

    public override bool IsStoredTransposed(string parameterName) =>
        parameterName.EndsWith(".weight", StringComparison.Ordinal)
        && (parameterName.Contains(".attn.c_attn.", StringComparison.Ordinal)
            || parameterName.Contains(".attn.c_proj.", StringComparison.Ordinal)
            || parameterName.Contains(".mlp.c_fc.", StringComparison.Ordinal)
            || parameterName.Contains(".mlp.c_proj.", StringComparison.Ordinal));

    // Old HF GPT-2 checkpoints carry the causal-mask buffers attn.bias / attn.masked_bias.
    public override bool IsIgnorableCheckpointKey(string key) =>
        key.EndsWith(".attn.bias", StringComparison.Ordinal) || key.EndsWith(".attn.masked_bias", StringComparison.Ordinal)
        || (Config.TieWordEmbeddings && key == "lm_head.weight");

    protected override Tensor ForwardHidden(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, LayerSkip? skip) =>
        _transformer.Forward(tokens, positions, attentionMask, cache, skip);

    protected override Tensor ProjectToVocab(Tensor hidden) =>
        _lmHead is not null ? _lmHead.forward(hidden) : nn.functional.linear(hidden, _transformer.Wte.weight!);

    private sealed class Gpt2Model : nn.Module
    {
        private readonly Embedding _wpe;
        private readonly ModuleStack<Block> _h;
        private readonly LayerNorm _lnF;

        public Gpt2Model(ModelConfig c, Device device, ScalarType dtype) : base(nameof(Gpt2Model))
        {
            Wte = nn.Embedding(c.VocabSize, c.HiddenSize, device: device, dtype: dtype);
            _wpe = nn.Embedding(c.MaxPositionEmbeddings, c.HiddenSize, device: device, dtype: dtype);
            _h = new ModuleStack<Block>("h", Enumerable.Range(0, c.NumHiddenLayers).Select(i => new Block(c, i, device, dtype)));
            _lnF = nn.LayerNorm(c.HiddenSize, c.NormEps, device: device, dtype: dtype);
            register_module("wte", Wte);
            register_module("wpe", _wpe);
            register_module("h", _h);
            register_module("ln_f", _lnF);
        }

        public Embedding Wte { get; }

        public Tensor Forward(Tensor tokens, Tensor positions, Tensor mask, KVCache? cache, LayerSkip? skip)
        {
            var h = Wte.forward(tokens).add(_wpe.forward(positions), Scalars.One); // [batch, n, hidden]; explicit alpha: see Scalars
            for (int i = 0; i < _h.Count; i++)
                if (!IsSkipped(skip, i)) h = _h[i].Forward(h, mask, cache);
            return _lnF.forward(h);
        }
    }

    private sealed class Block : nn.Module
    {
        private readonly LayerNorm _ln1, _ln2;
        private readonly Gpt2Attention _attn;
        private readonly Gpt2Mlp _mlp;

        public Block(ModelConfig c, int index, Device device, ScalarType dtype) : base(nameof(Block))
        {
            _ln1 = nn.LayerNorm(c.HiddenSize, c.NormEps, device: device, dtype: dtype);
            _attn = new Gpt2Attention(c, index, device, dtype);
            _ln2 = nn.LayerNorm(c.HiddenSize, c.NormEps, device: device, dtype: dtype);
            _mlp = new Gpt2Mlp(c, device, dtype);
            register_module("ln_1", _ln1);
            register_module("attn", _attn);
            register_module("ln_2", _ln2);
            register_module("mlp", _mlp);
        }

        public Tensor Forward(Tensor x, Tensor mask, KVCache? cache)
        {
            var h = x.add(_attn.Forward(_ln1.forward(x), mask, cache), Scalars.One);
            return h.add(_mlp.forward(_ln2.forward(h)), Scalars.One);
        }
    }

    private sealed class Gpt2Attention : nn.Module
    {
        private readonly Linear _cAttn, _cProj;
        private readonly int _layer, _heads, _headDim, _hidden;

        public Gpt2Attention(ModelConfig c, int layer, Device device, ScalarType dtype) : base(nameof(Gpt2Attention))
        {
            _layer = layer; _heads = c.NumAttentionHeads; _headDim = c.HeadDim; _hidden = c.HiddenSize;
            _cAttn = nn.Linear(c.HiddenSize, 3 * c.HiddenSize, hasBias: true, device: device, dtype: dtype);
            _cProj = nn.Linear(c.HiddenSize, c.HiddenSize, hasBias: true, device: device, dtype: dtype);
            register_module("c_attn", _cAttn);
            register_module("c_proj", _cProj);
        }

        public Tensor Forward(Tensor x, Tensor mask, KVCache? cache)
        {
            long batch = x.shape[0], n = x.shape[1];
            var qkv = _cAttn.forward(x); // [batch, n, 3 * hidden]
            var q = qkv.narrow(2, 0, _hidden).view(batch, n, _heads, _headDim).transpose(1, 2);           // [batch, heads, n, headDim]
            var k = qkv.narrow(2, _hidden, _hidden).view(batch, n, _heads, _headDim).transpose(1, 2);
            var v = qkv.narrow(2, 2 * _hidden, _hidden).view(batch, n, _heads, _headDim).transpose(1, 2);
            return _cProj.forward(Attend(q, k, v, _layer, cache, mask));
        }
    }

    private sealed class Gpt2Mlp : nn.Module<Tensor, Tensor>
    {
        private readonly Linear _cFc, _cProj;
        private readonly Scalar _half = 0.5, _cubic = 0.044715, _sqrt2OverPi = Math.Sqrt(2.0 / Math.PI), _one = 1.0, _three = 3;

        public Gpt2Mlp(ModelConfig c, Device device, ScalarType dtype) : base(nameof(Gpt2Mlp))
        {
            _cFc = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: true, device: device, dtype: dtype);
            _cProj = nn.Linear(c.IntermediateSize, c.HiddenSize, hasBias: true, device: device, dtype: dtype);
            register_module("c_fc", _cFc);
            register_module("c_proj", _cProj);
        }

        public override Tensor forward(Tensor x)
        {
            var h = _cFc.forward(x);
            // HF's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
            var inner = h.add(h.pow(_three).mul_(_cubic), Scalars.One).mul_(_sqrt2OverPi).tanh_().add_(_one);
            return _cProj.forward(h.mul(_half).mul_(inner));
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) { _half.Dispose(); _cubic.Dispose(); _sqrt2OverPi.Dispose(); _one.Dispose(); _three.Dispose(); }
            base.Dispose(disposing);
        }
    }
}
