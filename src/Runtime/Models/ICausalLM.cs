using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>
/// The one forward every strategy uses. A causal LM, a masked-diffusion LM (bidirectional mask) and a
/// layer-skip self-draft are all this interface; only the attention mask and the skipped layers differ.
/// </summary>
/// <remarks>
/// Contract (shapes in comments follow gpt-fast's style):
/// <list type="bullet">
/// <item><c>tokens</c> <c>[batch, n]</c> int64; <c>positions</c> <c>[batch, n]</c> int64 (RoPE / learned positions).</item>
/// <item><c>attentionMask</c> <c>[batch, 1, n, cache.Length + n]</c> bool, true = attend. Columns
/// <c>0..cache.Length</c> are the cached keys, the last <c>n</c> columns the new tokens (causal, tree or
/// bidirectional — the caller decides). Without a cache the mask is <c>[batch, 1, n, n]</c>. The last dimension may be
/// wider (a preallocated buffer's rows): columns from <c>cache.Length + n</c> on are ignored.</item>
/// <item>With a cache, the new keys/values are written in place at slots <c>[cache.Length, cache.Length + n)</c>
/// and <c>cache.Length</c> advances by <c>n</c>; the caller keeps or discards them with
/// <see cref="KVCache.Truncate"/> / <see cref="KVCache.Compact"/>.</item>
/// <item>Returns logits <c>[batch, n, vocab]</c> as float32 and, when asked, the last hidden state
/// <c>[batch, n, hidden]</c> (after the final norm, as Medusa heads expect). The caller owns and disposes them;
/// <see cref="ForwardInto"/> instead writes them into caller-owned <see cref="ForwardOutputs"/> and lends views.</item>
/// </list>
/// </remarks>
public interface ICausalLM : IDisposable
{
    ModelConfig Config { get; }
    Device Device { get; }
    ScalarType DType { get; }

    /// <summary>A preallocated cache for this model: every layer's K and V for <paramref name="maxLength"/> slots.</summary>
    KVCache CreateCache(int batch, int maxLength);

    ModelOutput Forward(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache,
                        bool returnHidden = false, LayerSkip? skip = null);

    /// <summary>
    /// <see cref="Forward"/> with the results written into caller-owned <paramref name="into"/> (made once per decode
    /// loop): returns views of its first <c>n</c> rows, valid until the next forward into it, which disposing leaves
    /// alone. A decode loop's steps then create no tensor for the model's results; on the compiled Llama forward the
    /// whole call allocates no managed memory. The default runs <see cref="Forward"/> and copies.
    /// </summary>
    ModelOutput ForwardInto(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, ForwardOutputs into,
                            bool returnHidden = false, LayerSkip? skip = null)
    {
        int n = (int)tokens.size(1);
        into.Validate(this, tokens.size(0), n, returnHidden);
        using (var output = Forward(tokens, positions, attentionMask, cache, returnHidden, skip))
        {
            into.LogitsView(n).copy_(output.Logits);
            if (returnHidden) into.HiddenView(n).copy_(output.Hidden!);
        }
        return into.Output(n, returnHidden);
    }

    /// <summary>
    /// The LM head's weight <c>[vocab, hidden]</c> when the model can lend it (Medusa heads that share the target's LM
    /// head then run as one compiled call); null otherwise, and they project through <see cref="LogitsFromHidden"/>.
    /// </summary>
    Tensor? OutputWeight => null;

    /// <summary>The model's own LM head applied to final hidden states <c>[..., hidden]</c>: float32 logits <c>[..., vocab]</c>.
    /// Medusa heads that share the target's LM head use it.</summary>
    Tensor LogitsFromHidden(Tensor hidden);
}

/// <summary>
/// Logits <c>[batch, n, vocab]</c> (float32) and optionally the last hidden state <c>[batch, n, hidden]</c>. Disposing
/// frees them, unless they are <see cref="Borrowed"/> views of a loop's <see cref="ForwardOutputs"/>.
/// </summary>
public readonly record struct ModelOutput(Tensor Logits, Tensor? Hidden) : IDisposable
{
    /// <summary>The tensors belong to a <see cref="ForwardOutputs"/>: valid until its next forward; disposing does nothing.</summary>
    public bool Borrowed { get; init; }

    public void Dispose()
    {
        if (Borrowed) return;
        Logits.Dispose();
        Hidden?.Dispose();
    }
}

/// <summary>Layers a self-speculative draft skips (Draft &amp; Verify, Zhang et al. 2023). Skipped layers leave the cache untouched.</summary>
public sealed record LayerSkip(IReadOnlyList<int> SkippedLayers);
