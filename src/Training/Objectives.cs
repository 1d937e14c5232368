using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Training;

/// <summary>What a training kind optimises: which module learns, how long a sampled window is, and the loss.</summary>
public interface IObjective
{
    nn.Module Trainable { get; }
    /// <summary>Tokens per sampled window (context + 1 when the last token is only a target).</summary>
    int WindowLength { get; }
    /// <summary>Scalar loss with a graph back to <see cref="Trainable"/>. <paramref name="step"/> seeds any sampling.</summary>
    Tensor Loss(Tensor window, long step);
}

/// <summary>Next-token cross-entropy with a causal mask.</summary>
public sealed class CausalObjective(CausalLMBase model, int context) : IObjective
{
    public nn.Module Trainable => model;
    public int WindowLength => context + 1;

    public Tensor Loss(Tensor window, long step)
    {
        long b = window.shape[0], n = window.shape[1] - 1;
        var input = window.narrow(1, 0, n);
        var target = window.narrow(1, 1, n);
        using var output = model.Forward(input, Batches.Positions(b, n), Batches.CausalMask(n), null);
        return nn.functional.cross_entropy(output.Logits.reshape(b * n, -1), target.reshape(b * n));
    }
}

/// <summary>
/// LLaDA's masked-diffusion objective (Nie et al. 2025): per sequence a ratio t ~ U(eps, 1), every token masked
/// independently with probability t, bidirectional attention, cross-entropy on the masked positions only, weighted
/// 1/t and averaged over all B*L positions — an upper bound on the sequence's negative log-likelihood.
/// </summary>
/// <remarks>
/// <paramref name="shift"/>: Dream's shifted-logits variant ("Dream 7B", Ye et al. 2025; DiffuLLaMA, Gong et al. 2025),
/// used when the model starts from a causal LM: logits row i predicts the token at i + 1, as the causal head always
/// did, so adaptation keeps the head's meaning instead of re-learning it. The first position of a window then has no
/// row that predicts it and is never masked (at decode time it is the prompt's BOS or context).
/// </remarks>
public sealed class MaskedDiffusionObjective(CausalLMBase model, int context, int maskId, int seed, bool shift = false) : IObjective
{
    /// <summary>Keeps 1/t bounded: LLaDA samples t from [eps, 1] for the same reason.</summary>
    public const double Eps = 1e-3;

    public nn.Module Trainable => model;
    public int WindowLength => context;

    public Tensor Loss(Tensor window, long step)
    {
        long b = window.shape[0], n = window.shape[1];
        // Seeded by (seed, step) like the data order, so a resumed run masks exactly as the uninterrupted one.
        var g = new Generator(unchecked((ulong)seed * 1_000_003UL + (ulong)step));
        var t = rand([b, 1], generator: g) * (1 - Eps) + Eps;             // [b, 1]
        var masked = rand([b, n], generator: g) < t;                       // [b, n]
        int s = shift ? 1 : 0;
        if (shift) masked = masked.logical_and(Batches.AllButFirst(n));
        var noisy = where(masked, full_like(window, maskId), window);
        using var output = model.Forward(noisy, Batches.Positions(b, n), Batches.FullMask(n), null);
        long m = n - s;                                                    // predicted positions [s, n)
        var logits = output.Logits.narrow(1, 0, m);                        // [b, m, vocab]: row i predicts position i + s
        var ce = nn.functional.cross_entropy(logits.reshape(b * m, -1), window.narrow(1, s, m).reshape(b * m),
                                             reduction: nn.Reduction.None).view(b, m);
        return (ce * masked.narrow(1, s, m).to_type(ScalarType.Float32) / t).sum() / (b * m);
    }
}

/// <summary>
/// Medusa-1 training: the target is frozen (run without a graph); head k learns token t+k+2 from the hidden state at
/// t. Later heads are down-weighted by 0.8^k as in the Medusa paper, since they are harder and noisier.
/// </summary>
public sealed class MedusaObjective(CausalLMBase target, MedusaHeads heads, Tensor lmHead, int context) : IObjective
{
    public nn.Module Trainable => heads;
    public int WindowLength => context + 1;

    public Tensor Loss(Tensor window, long step)
    {
        long b = window.shape[0], n = window.shape[1] - 1;
        var input = window.narrow(1, 0, n);
        Tensor hidden;
        using (no_grad())
        {
            using var output = target.Forward(input, Batches.Positions(b, n), Batches.CausalMask(n), null, returnHidden: true);
            hidden = output.Hidden!.detach();
        }
        Tensor? total = null;
        for (int k = 0; k < heads.Count; k++)
        {
            long usable = n - k - 1;  // positions whose token k+2 ahead is still inside the window
            var logits = nn.functional.linear(heads.Head(k, hidden.narrow(1, 0, usable)), lmHead);
            var targets = window.narrow(1, k + 2, usable);
            var loss = nn.functional.cross_entropy(logits.reshape(b * usable, -1), targets.reshape(b * usable)) * Math.Pow(0.8, k);
            total = total is null ? loss : total + loss;
        }
        return total!;
    }
}
