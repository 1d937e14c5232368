using Pardec.Runtime.Models;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives;

/// <summary>
/// The runtime's one sampler (causal, batched and masked canvases, drafts and the plain baseline all draw here).
/// Picks the target's token at every node of a verified tree at once: argmax when the temperature is 0,
/// otherwise one seeded sample per node from the temperature / top-k / top-p filtered distribution.
/// Verifying a deterministic proposal by "does the target's own pick equal the candidate?" is lossless in both
/// cases: greedy output equals plain greedy, and sampled output has the target's distribution (each committed token
/// is a draw from p given the committed prefix). The picks reach the host in one copy, the step's one sync.
/// </summary>
public sealed class NodeSampler : IDisposable
{
    private readonly Generator _seeded;
    private readonly HostRows _rows = new();
    private Generator? _generator;
    private Scalar? _temperature;
    private readonly long[] _picks;
    private int _pickCount;
    // Sampling is on the host on every device: the filtered distribution of each row, drawn with a seeded xoshiro256**
    // stream, so the same seed gives the same text on every device and a sampled CPU step makes no tensor op. Scratch is sized to the vocabulary on first use.
    private HostRandom _random;
    private float[] _probs = [], _topScores = [];
    private long[] _topIds = [];
    private int[] _sortIndex = [];

    /// <param name="capacity">The most rows one <see cref="Pick"/> reads (a verified tree's nodes).</param>
    /// <param name="device">Where the device generator draws (<see cref="SampleRows"/>); the CPU by default.</param>
    public NodeSampler(int capacity, Device? device = null)
    {
        _picks = new long[capacity];
        _seeded = new Generator(0, device ?? CPU);
        Configure(SamplingSettings.Greedy);
    }

    public SamplingSettings Settings { get; private set; } = SamplingSettings.Greedy;

    /// <summary>True when the current decode picks argmaxes (temperature 0).</summary>
    public bool IsGreedy => _generator is null;

    /// <summary>The seeded device generator of this decode (null when greedy); only <see cref="SampleRows"/> draws from it.</summary>
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
        long seed = settings.Seed ?? Random.Shared.NextInt64();
        _seeded.manual_seed(seed);
        _random = new HostRandom((ulong)seed);
        _generator = _seeded;
    }

    /// <summary>A uniform draw in [0, 1) from this decode's seeded host stream.</summary>
    public double NextUniform() => _random.NextDouble();

    /// <summary>
    /// The distribution one logits row is sampled from — softmax of logits / T after top-k and top-p filtering, as
    /// <see cref="Probabilities"/> computes it on the device — into this sampler's scratch, valid until the next call.
    /// </summary>
    public ReadOnlySpan<float> RowProbabilities(ReadOnlySpan<float> logits)
    {
        if (_temperature is null) throw new InvalidOperationException("Greedy decoding has no sampling distribution; set a temperature above 0.");
        int vocab = logits.Length;
        if (_probs.Length < vocab) _probs = new float[vocab];
        var probs = _probs.AsSpan(0, vocab);
        TensorPrimitives.Multiply(logits, (float)(1.0 / Settings.Temperature), probs);
        if (Settings.TopK > 0 && Settings.TopK < vocab)
        {
            // Everything below the k-th largest scaled logit is removed (ties with it stay, as on the device).
            float kth = KthLargest(probs, Settings.TopK);
            for (int v = 0; v < vocab; v++) if (probs[v] < kth) probs[v] = float.NegativeInfinity;
        }
        float max = TensorPrimitives.Max(probs);
        TensorPrimitives.Subtract(probs, max, probs);
        TensorPrimitives.Exp(probs, probs);                      // exp(-inf) = 0 for removed tokens
        TensorPrimitives.Divide(probs, TensorPrimitives.Sum(probs), probs);
        if (Settings.TopP < 1.0)
        {
            // Nucleus: in descending order, a token goes when the mass before it already exceeds p (the top one stays).
            // Equal probabilities keep token order (a stable descending sort), so the cut is deterministic.
            if (_sortIndex.Length < vocab) _sortIndex = new int[vocab];
            var order = _sortIndex.AsSpan(0, vocab);
            for (int v = 0; v < vocab; v++) order[v] = v;
            order.Sort(new Descending(_probs));
            float before = 0f;
            for (int j = 0; j < vocab; j++)
            {
                int v = order[j];
                float p = probs[v];
                if (before > Settings.TopP) probs[v] = 0f;
                before += p;
            }
            TensorPrimitives.Divide(probs, TensorPrimitives.Sum(probs), probs);
        }
        return probs;
    }

    /// <summary>The index inverse-CDF sampling picks for a uniform <paramref name="u"/> in [0, 1) (weights need not sum to 1).</summary>
    public static int Draw(ReadOnlySpan<float> weights, double u)
    {
        double total = 0;
        foreach (float w in weights) total += w;
        double target = u * total, cumulative = 0;
        int last = -1;
        for (int i = 0; i < weights.Length; i++)
        {
            if (!(weights[i] > 0)) continue;
            cumulative += weights[i];
            last = i;
            if (cumulative > target) return i;
        }
        if (last < 0) throw new InvalidOperationException("Cannot sample from a distribution with no positive weight.");
        return last; // rounding left the target at the very top of the range
    }

    // Token ids by probability, highest first, ties by id (a struct comparer: the sort allocates nothing).
    private readonly struct Descending(float[] probs) : IComparer<int>
    {
        public int Compare(int a, int b)
        {
            int byProbability = probs[b].CompareTo(probs[a]);
            return byProbability != 0 ? byProbability : a.CompareTo(b);
        }
    }

    // The k-th largest value (k >= 1) of values.
    private float KthLargest(ReadOnlySpan<float> values, int k)
    {
        if (_topScores.Length < k) { _topScores = new float[k]; _topIds = new long[k]; }
        int count = HostTopK.Select(values, _topIds.AsSpan(0, k), _topScores.AsSpan(0, k));
        return _topScores[count - 1];
    }

    /// <summary>
    /// The target's pick at each node of <paramref name="logits"/> <c>[n, vocab]</c>, valid until the next call: the
    /// argmax when greedy, else one inverse-CDF draw per row from its filtered distribution with this decode's seeded
    /// host stream. One algorithm on every device: the rows reach it through <see cref="HostRows"/> (in place on the
    /// CPU; elsewhere greedy copies one id per row and sampling one copy of the rows).
    /// </summary>
    public ReadOnlySpan<long> Pick(Tensor logits /* [n, vocab] */)
    {
        int n = (int)logits.size(0);
        var picks = _picks.AsSpan(0, n);
        if (_generator is null) _rows.Argmax(logits, picks);
        else
        {
            int vocab = (int)logits.size(1);
            var rows = _rows.Read(logits);
            for (int r = 0; r < n; r++) picks[r] = Sample(rows.Slice(r * vocab, vocab));
        }
        _pickCount = n;
        return picks;
    }

    /// <summary>One draw from the filtered distribution of one logits row (a temperature above 0).</summary>
    public int Sample(ReadOnlySpan<float> logits) => Draw(RowProbabilities(logits), NextUniform());

    /// <summary>The pick for one logits row <c>[vocab]</c> on any device: its argmax when greedy, else one draw.</summary>
    public int PickOne(Tensor logitsRow /* [vocab] */)
    {
        using var scope = NewDisposeScope();
        return (int)Pick(logitsRow.reshape(1, -1))[0];
    }

    /// <summary>
    /// One seeded draw per row of <paramref name="probabilities"/> <c>[rows, vocab]</c> with the device generator: the
    /// masked canvas draws a whole block of positions in one op this way (LLaDA's per-position sampling), and its seeded
    /// texts (models/english/diffusion/bars.json) are drawn from this stream. Returns <c>[rows, 1]</c> int64 on the device.
    /// </summary>
    public Tensor SampleRows(Tensor probabilities)
    {
        var generator = _generator ?? throw new InvalidOperationException("Greedy decoding draws nothing; set a temperature above 0.");
        return multinomial(probabilities, 1, replacement: false, generator: generator);
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
        _rows.Dispose();
        _temperature?.Dispose();
    }
}

/// <summary>Temperature 0 means greedy. Seeded sampling is reproducible across processes and thread counts.</summary>
public sealed record SamplingSettings(double Temperature = 0, int TopK = 0, double TopP = 1.0, long? Seed = null)
{
    public bool IsGreedy => Temperature <= 0;
    public static SamplingSettings Greedy { get; } = new();

    /// <summary>The sampling a request's options ask for.</summary>
    public static SamplingSettings From(Decoding.GenerationOptions options) =>
        new(options.Temperature, options.TopK, options.TopP, options.Seed);
}

/// <summary>
/// xoshiro256** (Blackman and Vigna 2018), seeded through SplitMix64: a small, fast, reproducible stream for host-side
/// sampling — the same seed gives the same draws on every machine and runtime.
/// </summary>
internal struct HostRandom
{
    private ulong _s0, _s1, _s2, _s3;

    public HostRandom(ulong seed)
    {
        _s0 = SplitMix(ref seed); _s1 = SplitMix(ref seed); _s2 = SplitMix(ref seed); _s3 = SplitMix(ref seed);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong Next()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));
}
