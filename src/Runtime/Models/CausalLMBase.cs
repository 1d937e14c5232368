using Pardec.Runtime.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>
/// What every decoder here shares: the <see cref="ICausalLM.Forward"/> contract checks, one dispose scope per
/// forward with the results moved out, the cache bookkeeping and the float32 logits. Subclasses provide the
/// architecture (<see cref="ForwardHidden"/>, <see cref="ProjectToVocab"/>). Parameters are registered under their
/// Hugging Face names, so <c>named_parameters()</c>/<c>state_dict()</c> keys are the checkpoint keys.
/// </summary>
public abstract class CausalLMBase : nn.Module, ICausalLM
{
    protected CausalLMBase(string name, ModelConfig config, Device device, ScalarType dtype) : base(name)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float64))
            throw new ArgumentException($"unsupported dtype {dtype}; use Float32 or BFloat16.", nameof(dtype));
        // CPU fp16 matmul falls back to a scalar kernel (~200x slower than bf16): refuse rather than crawl.
        if (dtype == ScalarType.Float16 && device.type == DeviceType.CPU)
            throw new ArgumentException("Float16 is unusably slow on CPU; use BFloat16 (or Float32).", nameof(dtype));
        config.Validate();
        Config = config;
        Device = device;
        DType = dtype;
    }

    public ModelConfig Config { get; }
    public Device Device { get; }
    public ScalarType DType { get; }

    /// <summary>
    /// True when the checkpoint stores this parameter as <c>[in, out]</c> (HF GPT-2's Conv1D) while the module
    /// holds it as <c>[out, in]</c> like <c>nn.Linear</c>; loaders and savers transpose it.
    /// </summary>
    public virtual bool IsStoredTransposed(string parameterName) => false;

    /// <summary>Checkpoint keys this model reads nothing from (non-persistent buffers some exporters write, or a tied head).</summary>
    public virtual bool IsIgnorableCheckpointKey(string key) => false;

    public KVCache CreateCache(int batch, int maxLength) =>
        new(Config.NumHiddenLayers, batch, Config.NumKeyValueHeads, maxLength, Config.HeadDim, Device, DType);

    public ModelOutput Forward(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache,
                               bool returnHidden = false, LayerSkip? skip = null) =>
        Run(tokens, positions, attentionMask, cache, returnHidden, skip, into: null);

    public ModelOutput ForwardInto(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, ForwardOutputs into,
                                   bool returnHidden = false, LayerSkip? skip = null) =>
        Run(tokens, positions, attentionMask, cache, returnHidden, skip, into ?? throw new ArgumentNullException(nameof(into)));

    private ModelOutput Run(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, bool returnHidden, LayerSkip? skip,
                            ForwardOutputs? into)
    {
        // size(d), not shape: shape allocates an array per call, and this runs once per forward of every decode step.
        if (tokens.dim() != 2)
            throw new ArgumentException($"tokens must be [batch, n], got [{string.Join(", ", tokens.shape)}]", nameof(tokens));
        long batch = tokens.size(0), n = tokens.size(1);
        if (positions.dim() != 2 || positions.size(0) != batch || positions.size(1) != n)
            throw new ArgumentException($"positions must be [{batch}, {n}], got [{string.Join(", ", positions.shape)}]", nameof(positions));
        long total = (cache?.Length ?? 0) + n;
        // A mask may be wider than total (a caller's preallocated buffer, viewed once per width): its columns from
        // total on are ignored, which spares the caller a view per step as the cache grows.
        if (attentionMask.dim() != 4 || (attentionMask.size(0) != batch && attentionMask.size(0) != 1) || attentionMask.size(1) != 1
            || attentionMask.size(2) != n || attentionMask.size(3) < total)
            throw new ArgumentException(
                $"attentionMask must be [{batch}, 1, {n}, {total}] or wider in its last dimension (bool, true = attend), got [{string.Join(", ", attentionMask.shape)}]",
                nameof(attentionMask));
        if (attentionMask.dtype != ScalarType.Bool)
            throw new ArgumentException($"attentionMask must be bool (true = attend), got {attentionMask.dtype}", nameof(attentionMask));
        if (cache is not null)
        {
            if (cache.Batch != batch)
                throw new ArgumentException($"the cache holds {cache.Batch} rows but tokens has {batch}", nameof(cache));
            cache.EnsureRoom((int)n);
        }
        if (skip is not null)
        {
            if (skip.SkippedLayers.Count > Config.NumHiddenLayers)
                throw new ArgumentException($"{skip.SkippedLayers.Count} skipped layers listed; the model has {Config.NumHiddenLayers}", nameof(skip));
            var layers = skip.SkippedLayers;
            for (int i = 0; i < layers.Count; i++) // indexed: a foreach over the interface would allocate its enumerator per forward
                if (layers[i] < 0 || layers[i] >= Config.NumHiddenLayers)
                    throw new ArgumentOutOfRangeException(nameof(skip), layers[i], $"layer index must be in [0, {Config.NumHiddenLayers})");
        }
        into?.Validate(this, batch, n, returnHidden);

        if (CompiledForwardApplies)
        {
            // No dispose scope: a compiled forward into caller-owned outputs creates no tensor handle at all, and one
            // that returns its results registers them in the caller's scope, as the eager path's moved results are.
            ForwardCompiled(tokens, positions, attentionMask, cache, returnHidden, skip, into, out var compiledLogits, out var compiledHidden);
            cache?.Advance((int)n);
            return into is not null ? into.Output((int)n, returnHidden) : new ModelOutput(compiledLogits!, returnHidden ? compiledHidden : null);
        }
        using var scope = torch.NewDisposeScope();
        if (attentionMask.size(3) != total) attentionMask = attentionMask.narrow(3, 0, total);
        // The explicit attention path takes the mask as additive float32 (0 / -inf), built once for all layers.
        var mask = UsesExplicitAttention
            ? torch.zeros(attentionMask.shape, ScalarType.Float32, attentionMask.device).masked_fill_(attentionMask.logical_not(), Scalars.NegativeInfinity)
            : attentionMask;
        var hidden = ForwardHidden(tokens, positions, mask, cache, skip); // [batch, n, hidden]
        var logits = ProjectToVocab(hidden);                                        // [batch, n, vocab]
        cache?.Advance((int)n);
        if (into is not null)
        {
            into.LogitsView((int)n).copy_(logits);
            if (returnHidden) into.HiddenView((int)n).copy_(hidden);
            return into.Output((int)n, returnHidden);
        }
        if (logits.dtype != ScalarType.Float32) logits = logits.to_type(ScalarType.Float32);
        return new ModelOutput(logits.MoveToOuterDisposeScope(), returnHidden ? hidden.MoveToOuterDisposeScope() : null);
    }

    /// <summary>How the linear layers are stored; <see cref="WeightQuantization.None"/> unless the model was built quantized.</summary>
    public virtual WeightQuantization Quantization => WeightQuantization.None;

    /// <inheritdoc cref="ICausalLM.OutputWeight"/>
    public virtual Tensor? OutputWeight => null;

    public Tensor LogitsFromHidden(Tensor hidden)
    {
        using var scope = torch.NewDisposeScope();
        var logits = ProjectToVocab(hidden.to_type(DType));
        if (logits.dtype != ScalarType.Float32) logits = logits.to_type(ScalarType.Float32);
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// True when attention runs as explicit matmul / float32 softmax / matmul (Hugging Face's "eager" attention) rather
    /// than libtorch's fused <c>scaled_dot_product_attention</c>: in bfloat16 on the CPU. There the fused kernel's output
    /// for a query depends on how many queries share the call (its query blocking changes the rounding), so verifying k
    /// draft tokens in one forward gave logits one bf16 step away from decoding them one at a time, and lossless
    /// strategies drifted from greedy decoding. The explicit path, with oneDNN's bf16 GEMMs (which accumulate each
    /// row the same way whatever the row count), gives bit-identical logits for a token whether it is decoded alone, in
    /// a chain or in a token tree (<c>BatchInvariantForwardTests</c>); it costs about 5-10% of a forward here.
    /// </summary>
    /// <remarks>With <see cref="RowInvariantLinears"/> in float32 the explicit path is taken too, for the same reason.</remarks>
    public bool UsesExplicitAttention => Device.type == DeviceType.CPU && (DType is ScalarType.BFloat16 or ScalarType.Float16 || UsesRowInvariantLinears);

    /// <summary>
    /// Float32 linear layers on the CPU run Pardec's own kernel (<see cref="Kernels.RowInvariantLinear"/>) instead of
    /// libtorch's <c>linear</c>, with explicit attention: a token's logits are then the same bits whether it is decoded
    /// alone or verified in a chain (<c>RowInvariantForwardTests</c>), as they are in bf16, and a few-row verification
    /// forward streams each weight once. Off by default. Architectures that do not route their linears through the
    /// kernel (only the Llama family does) ignore it; so do other dtypes and devices (CUDA keeps torch's kernels) and
    /// forwards under autograd. The model's eager modules run (the compiled TorchScript forward calls torch's linear).
    /// </summary>
    public bool RowInvariantLinears { get; set; }

    /// <summary><see cref="RowInvariantLinears"/> applies to this model now: float32, CPU, gradients off.</summary>
    protected bool UsesRowInvariantLinears => RowInvariantLinears && SupportsRowInvariantLinears && Device.type == DeviceType.CPU && DType == ScalarType.Float32 && !torch.is_grad_enabled();

    /// <summary>The architecture routes its float linears through <see cref="Kernels.RowInvariantLinear"/>.</summary>
    protected virtual bool SupportsRowInvariantLinears => false;

    /// <summary>
    /// Whether this forward runs as one compiled call (see <see cref="LlamaForCausalLM"/>); false runs the eager modules.
    /// </summary>
    protected virtual bool CompiledForwardApplies => false;

    /// <summary>
    /// The compiled forward: writes float32 logits (and the final hidden state if asked) into <paramref name="into"/>,
    /// or, without outputs, returns them as new tensors. The cache is written in place; the caller advances it.
    /// </summary>
    protected virtual void ForwardCompiled(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, bool returnHidden,
                                           LayerSkip? skip, ForwardOutputs? into, out Tensor? logits, out Tensor? hidden) =>
        throw new NotSupportedException($"{GetType().Name} has no compiled forward");

    /// <summary>
    /// Whether forwards may run compiled (TorchScript) where the architecture supports it; on by default. The eager
    /// modules compute the same logits bit for bit (<c>ScriptedForwardTests</c>); the compiled call saves one P/Invoke
    /// and one managed tensor handle per op. Autograd always runs the eager modules.
    /// </summary>
    public bool CompiledForwardEnabled { get; set; } = true;

    /// <summary>Runs the decoder stack and the final norm; writes every non-skipped layer's K/V to the cache.</summary>
    protected abstract Tensor ForwardHidden(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, LayerSkip? skip);

    /// <summary>The LM head: <c>[batch, n, hidden]</c> to <c>[batch, n, vocab]</c> in the model dtype.</summary>
    protected abstract Tensor ProjectToVocab(Tensor hidden);

    protected static bool IsSkipped(LayerSkip? skip, int layer)
    {
        if (skip is null) return false;
        var layers = skip.SkippedLayers;
        for (int i = 0; i < layers.Count; i++)
            if (layers[i] == layer) return true;
        return false;
    }

    /// <summary>
    /// Seeded random weights in the HF style (normal(0, std) for matrices and embeddings, ones for norm scales — zeros
    /// for Gemma's 1 + w scales —, zeros for biases): the tests' and benchmarks' models, and a training tool's starting point.
    /// </summary>
    public void InitializeWeights(long seed, double std = 0.02)
    {
        var generator = new torch.Generator((ulong)seed, Device);
        using var _ = torch.no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal)) p.zero_();
            else if (p.dim() == 1) p.fill_(Config.IsGemma ? Scalars.Zero : Scalars.One); // Gemma's norms scale by 1 + w
            else p.normal_(0.0, std, generator);
        }
    }

    /// <summary>Runs the attention core shared by both architectures, after q/k/v projection and positions.</summary>
    /// <param name="q"><c>[batch, heads, n, headDim]</c></param>
    /// <param name="k"><c>[batch, kvHeads, n, headDim]</c></param>
    /// <param name="v"><c>[batch, kvHeads, n, headDim]</c></param>
    /// <returns><c>[batch, n, heads * headDim]</c></returns>
    /// <param name="mask">bool (true = attend) for the fused kernel, or additive float32 (0 / -inf) for the explicit path
    /// (<see cref="UsesExplicitAttention"/>); <c>[batch or 1, 1, n, total]</c>.</param>
    /// <param name="rowInvariant">float32 on the CPU: both products on Pardec's row-invariant kernels
    /// (<see cref="Kernels.RowInvariantAttention"/>, <see cref="RowInvariantLinears"/>).</param>
    internal static Tensor Attend(Tensor q, Tensor k, Tensor v, int layer, KVCache? cache, Tensor mask, bool rowInvariant = false)
    {
        if (cache is not null) (k, v) = cache.Append(layer, k, v); // [batch, kvHeads, L + n, headDim]
        long batch = q.shape[0], heads = q.shape[1], n = q.shape[2], headDim = q.shape[3];
        long kvHeads = k.shape[1];
        // Always an explicit mask: SDPA's causal flag is top-left aligned, wrong once new tokens sit on a cache.
        Tensor o; // [batch, heads, n, headDim]
        if (kvHeads == heads)
        {
            o = Attention(q, k, v, mask, rowInvariant);
        }
        else
        {
            // Grouped-query attention: query head h uses kv head h / group. Rather than repeating K/V (a copy of the
            // whole cache per layer per step), fold each kv head's `group` query heads into the query length and
            // repeat the (small) mask rows instead: row g * n + i of the folded query is query i of head kv * group + g.
            long group = heads / kvHeads, total = k.shape[2], maskBatch = mask.shape[0];
            var folded = q.reshape(batch, kvHeads, group * n, headDim);                                    // [batch, kvHeads, group * n, headDim]
            var foldedMask = mask.unsqueeze(2).expand(maskBatch, 1, group, n, total).reshape(maskBatch, 1, group * n, total);
            o = Attention(folded, k, v, foldedMask, rowInvariant).reshape(batch, heads, n, headDim);
        }
        return o.transpose(1, 2).reshape(batch, n, heads * headDim);
    }

    // softmax(q k^T / sqrt(d) + mask) v: fused for a bool mask, explicit (scores and softmax in float32) for an additive one.
    private static Tensor Attention(Tensor q, Tensor k, Tensor v, Tensor mask, bool rowInvariant)
    {
        if (mask.dtype == ScalarType.Bool) return nn.functional.scaled_dot_product_attention(q, k, v, mask);
        if (rowInvariant && Kernels.RowInvariantAttention.Applies(q, k, mask)) return Kernels.RowInvariantAttention.Forward(q, k, v, mask, Scalars.InverseSquareRoot(q.shape[3]));
        var scores = torch.matmul(q, k.transpose(2, 3)).to_type(ScalarType.Float32); // [batch, heads, n, total]
        scores.mul_(Scalars.InverseSquareRoot(q.shape[3])).add_(mask, Scalars.One);    // explicit alpha: see Scalars
        return torch.matmul(scores.softmax(-1).to_type(q.dtype), v);
    }
}
