using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Training;

/// <summary>
/// The numbers the model card reports and the tests re-check: perplexity on held-out text, draft-vs-target greedy
/// agreement, Medusa head accuracy. All deterministic (teacher forcing over fixed, non-overlapping windows; the
/// masked-diffusion bound uses a fixed grid of mask ratios and seeded masks), so a recorded figure is reproducible.
/// </summary>
public static class Evaluation
{
    private const int EvalBatch = 8;

    /// <summary>Mean next-token negative log-likelihood (nats) and the number of predicted tokens.</summary>
    public static (double Nll, long Tokens) CausalNll(ICausalLM model, int[] stream, int context, int maxTokens)
    {
        double sum = 0; long count = 0;
        using var _ = no_grad();
        foreach (var batch in Group(Batches.Windows(stream, context + 1, maxTokens)))
        {
            using var scope = NewDisposeScope();
            var w = Stack(batch);
            long b = w.shape[0], n = w.shape[1] - 1;
            using var output = model.Forward(w.narrow(1, 0, n), Batches.Positions(b, n), Batches.CausalMask(n), null);
            var ce = nn.functional.cross_entropy(output.Logits.reshape(b * n, -1), w.narrow(1, 1, n).reshape(b * n),
                                                 reduction: nn.Reduction.Sum);
            sum += ce.item<float>();
            count += b * n;
        }
        return (sum / count, count);
    }

    /// <summary>Mask ratios of the deterministic masked-diffusion bound (midpoints of ten equal bins of U(0,1)).</summary>
    public static readonly double[] MaskRatios = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95];

    /// <summary>
    /// The LLaDA likelihood bound per token, E_t[(1/t) sum over masked CE] / L, with t on a fixed grid and the mask
    /// drawn from a generator seeded by (window, t index): an upper bound on the NLL, comparable across runs. For a
    /// shifted denoiser (<see cref="ModelConfig.ShiftedLogits"/>) each window's first token is context, never predicted.
    /// </summary>
    public static (double Nll, long Tokens) MaskedNll(ICausalLM model, int[] stream, int context, int maxTokens, int maskId)
    {
        double sum = 0; long count = 0; int windowIndex = 0;
        int s = model.Config.ShiftedLogits ? 1 : 0;
        using var _ = no_grad();
        foreach (var window in Batches.Windows(stream, context, maxTokens))
        {
            using var scope = NewDisposeScope();
            long n = window.Length;
            var x = tensor(window.Select(v => (long)v).ToArray(), [1, n], ScalarType.Int64);
            double windowSum = 0;
            for (int i = 0; i < MaskRatios.Length; i++)
            {
                double t = MaskRatios[i];
                var g = new Generator((ulong)(windowIndex * 1000 + i + 1));
                var masked = rand([1, n], generator: g) < t;
                // A shifted denoiser predicts position p from row p - 1, so a window's first token has no row: keep it.
                if (s == 1) masked = masked.logical_and(Batches.AllButFirst(n));
                var noisy = where(masked, full_like(x, maskId), x);
                using var output = model.Forward(noisy, Batches.Positions(1, n), Batches.FullMask(n), null);
                long m = n - s;
                var ce = nn.functional.cross_entropy(output.Logits.narrow(1, 0, m).reshape(m, -1), x.narrow(1, s, m).reshape(m),
                                                     reduction: nn.Reduction.None);
                windowSum += (ce * masked.narrow(1, s, m).reshape(m).to_type(ScalarType.Float32)).sum().item<float>() / t;
            }
            sum += windowSum / MaskRatios.Length;
            count += n - s;
            windowIndex++;
        }
        return (sum / count, count);
    }

    /// <summary>Fraction of positions where the draft's and the target's argmax agree (teacher forcing on real text).</summary>
    public static double GreedyAgreement(ICausalLM draft, ICausalLM target, int[] stream, int context, int maxTokens)
    {
        long agree = 0, count = 0;
        using var _ = no_grad();
        foreach (var batch in Group(Batches.Windows(stream, context, maxTokens)))
        {
            using var scope = NewDisposeScope();
            var w = Stack(batch);
            long b = w.shape[0], n = w.shape[1];
            using var d = draft.Forward(w, Batches.Positions(b, n), Batches.CausalMask(n), null);
            using var t = target.Forward(w, Batches.Positions(b, n), Batches.CausalMask(n), null);
            agree += d.Logits.argmax(-1).eq(t.Logits.argmax(-1)).sum().item<long>();
            count += b * n;
        }
        return (double)agree / count;
    }

    /// <summary>Per head: how often its argmax is the real token k+2 positions ahead.</summary>
    public static double[] MedusaAccuracy(ICausalLM target, MedusaHeads heads, Tensor lmHead, int[] stream, int context, int maxTokens)
    {
        var hits = new long[heads.Count];
        var counts = new long[heads.Count];
        using var _ = no_grad();
        foreach (var batch in Group(Batches.Windows(stream, context, maxTokens)))
        {
            using var scope = NewDisposeScope();
            var w = Stack(batch);
            long b = w.shape[0], n = w.shape[1];
            using var output = target.Forward(w, Batches.Positions(b, n), Batches.CausalMask(n), null, returnHidden: true);
            var hidden = output.Hidden!.to_type(lmHead.dtype);
            for (int k = 0; k < heads.Count; k++)
            {
                long usable = n - k - 2;
                if (usable <= 0) continue;
                var pred = nn.functional.linear(heads.Head(k, hidden.narrow(1, 0, usable)), lmHead).argmax(-1);
                hits[k] += pred.eq(w.narrow(1, k + 2, usable)).sum().item<long>();
                counts[k] += b * usable;
            }
        }
        return hits.Select((h, k) => counts[k] == 0 ? 0.0 : (double)h / counts[k]).ToArray();
    }

    /// <summary>Equal-length windows batched together (only the last window can be shorter).</summary>
    private static IEnumerable<List<int[]>> Group(IEnumerable<int[]> windows)
    {
        var current = new List<int[]>();
        foreach (var w in windows)
        {
            if (current.Count > 0 && (current.Count == EvalBatch || current[0].Length != w.Length))
            {
                yield return current;
                current = new List<int[]>();
            }
            current.Add(w);
        }
        if (current.Count > 0) yield return current;
    }

    private static Tensor Stack(List<int[]> windows)
    {
        int n = windows[0].Length;
        var data = new long[windows.Count * n];
        for (int b = 0; b < windows.Count; b++)
            for (int i = 0; i < n; i++) data[b * n + i] = windows[b][i];
        return tensor(data, [windows.Count, n], ScalarType.Int64);
    }
}
