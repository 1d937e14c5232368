using System.Runtime.InteropServices;
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
        int n = (int)logits.shape[0];
        using var scope = NewDisposeScope();
        Tensor picks; // [n] int64
        if (_generator is null) picks = logits.argmax(-1);
        else picks = multinomial(Probabilities(logits), 1, replacement: false, generator: _generator).view(-1);
        if (picks.device_type != DeviceType.CPU) picks = picks.cpu();
        MemoryMarshal.Cast<byte, long>(picks.contiguous().bytes).CopyTo(_picks);
        _pickCount = n;
        return _picks.AsSpan(0, n);
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
            scaled = scaled.masked_fill(scaled < kth, double.NegativeInfinity);
        }
        if (Settings.TopP < 1.0)
        {
            // Nucleus: keep the smallest set of tokens whose mass reaches p (the top token always stays).
            var (sorted, order) = scaled.sort(-1, descending: true);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            var removeSorted = (cumulative - sorted.softmax(-1)) > Settings.TopP;
            var remove = zeros_like(removeSorted).scatter(-1, order, removeSorted);
            scaled = scaled.masked_fill(remove, double.NegativeInfinity);
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
