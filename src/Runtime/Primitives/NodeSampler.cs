using Pardec.Runtime.Models;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives;

/// <summary>
/// Picks the target's token at every node of a verified tree at once: argmax when the temperature is 0,
/// otherwise one seeded sample per node from the temperature / top-k / top-p filtered distribution.
/// Verifying a deterministic proposal by "does the target's own pick equal the candidate?" is lossless in both
/// cases: greedy output equals plain greedy, and sampled output has the target's distribution (each committed token
/// is a draw from p given the committed prefix). The picks reach the host in one copy, the step's one sync.
/// </summary>
public sealed class NodeSampler : IDisposable
{
    private readonly Generator _seeded = new(0);
    private Generator? _generator;
    private Scalar? _temperature;
    private readonly long[] _picks;
    private int _pickCount;

    public NodeSampler(int capacity)
    {
        _picks = new long[capacity];
        Configure(SamplingSettings.Greedy);
    }

    public SamplingSettings Settings { get; private set; } = SamplingSettings.Greedy;

    /// <summary>The seeded generator every stochastic primitive of this decode draws from (null when greedy).</summary>
    public Generator? Generator => _generator;

    /// <summary>Sets the sampling of the next decode and reseeds the generator, so equal seeds give equal text.</summary>
    public void Configure(SamplingSettings settings)
    {
        Settings = settings;
        _temperature?.Dispose();
        _temperature = null;
        _generator = null;
        _pickCount = 0;
        if (settings.IsGreedy) return;
        _temperature = settings.Temperature;
        _seeded.manual_seed(settings.Seed ?? Random.Shared.NextInt64());
        _generator = _seeded;
    }

    /// <summary>The target's pick at each node; valid until the next call.</summary>
    public ReadOnlySpan<long> Pick(Tensor logits /* [n, vocab] float32 */)
    {
        int n = (int)logits.size(0);
        if (_generator is null && logits.device_type == DeviceType.CPU && logits.dtype == ScalarType.Float32 && logits.is_contiguous())
        {
            // Greedy on the host: read the rows in place (no op, no handle); the first maximum wins, as in torch.argmax.
            int vocab = (int)logits.size(1);
            var rows = MemoryMarshal.Cast<byte, float>(logits.bytes);
            for (int r = 0; r < n; r++) _picks[r] = IndexOfMax(rows.Slice(r * vocab, vocab));
            _pickCount = n;
            return _picks.AsSpan(0, n);
        }
        using var scope = NewDisposeScope();
        Tensor picks; // [n] int64
        if (_generator is null) picks = logits.argmax(-1);
        else picks = multinomial(Probabilities(logits), 1, replacement: false, generator: _generator).view(-1);
        if (picks.device_type != DeviceType.CPU) picks = picks.cpu();
        MemoryMarshal.Cast<byte, long>(picks.contiguous().bytes).CopyTo(_picks);
        _pickCount = n;
        return _picks.AsSpan(0, n);
    }

    /// <summary>
    /// Index of the first largest value (of the first NaN, if any, as torch.argmax): a vectorised pass finds the
    /// maximum, a second finds where it first occurs.
    /// </summary>
    public static int IndexOfMax(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) throw new ArgumentException("No values.", nameof(values));
        int i = 0;
        float max = values[0];
        if (Vector256.IsHardwareAccelerated && values.Length >= 2 * Vector256<float>.Count)
        {
            var best = Vector256.Create(values);
            for (i = Vector256<float>.Count; i + Vector256<float>.Count <= values.Length; i += Vector256<float>.Count)
                best = Vector256.Max(best, Vector256.Create(values.Slice(i)));
            for (int lane = 0; lane < Vector256<float>.Count; lane++) max = MathF.Max(max, best[lane]);
        }
        for (; i < values.Length; i++) max = MathF.Max(max, values[i]);
        int at = values.IndexOf(max);
        return at >= 0 ? at : FirstNaN(values); // max is NaN: NaN != NaN, so IndexOf misses it
    }

    private static int FirstNaN(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++) if (float.IsNaN(values[i])) return i;
        return 0;
    }

    /// <summary>The picks of the last <see cref="Pick"/> call (empty before the first).</summary>
    public ReadOnlySpan<long> LastPicks => _picks.AsSpan(0, _pickCount);

    /// <summary>Forgets the last picks, so a step whose rule never picked per node exposes none.</summary>
    public void ClearPicks() => _pickCount = 0;

    /// <summary>The distribution the target samples from at each row: softmax of filtered logits / T. <c>[n, vocab]</c>.</summary>
    public Tensor Probabilities(Tensor logits /* [n, vocab] */)
    {
        if (_temperature is null) throw new InvalidOperationException("Greedy decoding has no sampling distribution; set a temperature above 0.");
        var scaled = logits / _temperature;
        if (Settings.TopK > 0 && Settings.TopK < logits.shape[^1])
        {
            // Everything below the k-th largest logit is removed.
            var kth = scaled.topk(Settings.TopK, dim: -1).values.narrow(-1, Settings.TopK - 1, 1); // [n, 1]
            scaled = scaled.masked_fill(scaled < kth, Scalars.NegativeInfinity);
        }
        if (Settings.TopP < 1.0)
        {
            // Nucleus: keep the smallest set of tokens whose mass reaches p (the top token always stays).
            var (sorted, order) = scaled.sort(-1, descending: true);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            using Scalar topP = Settings.TopP; // rooted: see Scalars
            var removeSorted = (cumulative - sorted.softmax(-1)).gt(topP);
            var remove = zeros_like(removeSorted).scatter(-1, order, removeSorted);
            scaled = scaled.masked_fill(remove, Scalars.NegativeInfinity);
        }
        return scaled.softmax(-1);
    }

    public void Dispose()
    {
        _seeded.Dispose();
        _temperature?.Dispose();
    }
}

/// <summary>Temperature 0 means greedy. Seeded sampling is reproducible across processes and thread counts.</summary>
public sealed record SamplingSettings(double Temperature = 0, int TopK = 0, double TopP = 1.0, long? Seed = null)
{
    public bool IsGreedy => Temperature <= 0;
    public static SamplingSettings Greedy { get; } = new();
}
