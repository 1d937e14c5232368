using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Sampling;

/// <summary>
/// Greedy / temperature / top-k / top-p (nucleus; Holtzman et al. 2020) sampling from logits on the device, with a
/// seeded <see cref="torch.Generator"/> so that a seed reproduces a run. <see cref="SampleTensor"/> never syncs with
/// the host; <see cref="Sample"/> syncs only for the chosen id. <see cref="Probabilities"/> exposes the processed
/// distribution that speculative-sampling acceptance rules need.
/// </summary>
public sealed class TokenSampler : IDisposable
{
    private readonly torch.Generator _generator;
    private readonly Scalar _temperature;
    private readonly Scalar _negInf = double.NegativeInfinity;
    private readonly Scalar _topP;

    public TokenSampler(double temperature, int topK, double topP, long seed, Device device)
    {
        if (temperature < 0 || double.IsNaN(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature));
        if (topK < 0) throw new ArgumentOutOfRangeException(nameof(topK));
        if (!(topP > 0 && topP <= 1)) throw new ArgumentOutOfRangeException(nameof(topP));
        Temperature = temperature; TopK = topK; TopP = topP;
        _temperature = temperature > 0 ? temperature : 1.0;
        _topP = topP;
        _generator = new torch.Generator((ulong)seed, device);
    }

    public TokenSampler(Decoding.GenerationOptions options, Device device)
        : this(options.Temperature, options.TopK, options.TopP, options.Seed, device) { }

    public double Temperature { get; }
    public int TopK { get; }
    public double TopP { get; }
    public bool IsGreedy => Temperature <= 0;

    /// <summary>Restarts the random stream (the same seed replays the same samples).</summary>
    public void Reseed(long seed) => _generator.manual_seed(seed);

    /// <summary>Sampled ids for each row of <paramref name="logits"/> <c>[..., vocab]</c>: <c>[...]</c> int64, on the device.</summary>
    public Tensor SampleTensor(Tensor logits)
    {
        if (IsGreedy) return logits.argmax(-1);
        using var scope = torch.NewDisposeScope();
        var probs = Probabilities(logits);                   // [..., vocab]
        long vocab = probs.shape[^1];
        var rows = probs.reshape(-1, vocab);                 // [rows, vocab]
        var ids = torch.multinomial(rows, 1, false, _generator); // [rows, 1]
        return ids.reshape(logits.shape[..^1]).MoveToOuterDisposeScope();
    }

    /// <summary>The id sampled from one row <c>[vocab]</c> (one host sync).</summary>
    public int Sample(Tensor logitsRow)
    {
        using var id = SampleTensor(logitsRow);
        return (int)id.item<long>();
    }

    /// <summary>
    /// The distribution tokens are drawn from, float32 <c>[..., vocab]</c>: softmax of logits / temperature after
    /// top-k and top-p filtering. Greedy is the one-hot of the argmax.
    /// </summary>
    public Tensor Probabilities(Tensor logits)
    {
        using var scope = torch.NewDisposeScope();
        var x = logits.to_type(ScalarType.Float32);
        if (IsGreedy)
            return torch.zeros_like(x).scatter_(-1, x.argmax(-1, keepdim: true), 1.0f).MoveToOuterDisposeScope();
        x = x.div(_temperature);
        long vocab = x.shape[^1];
        if (TopK > 0 && TopK < vocab)
        {
            var kth = x.topk(TopK, -1).values.narrow(-1, TopK - 1, 1); // [..., 1]
            x = x.masked_fill(x.lt(kth), _negInf);
        }
        if (TopP < 1.0)
        {
            var (sorted, order) = x.sort(-1, descending: true);
            var p = sorted.softmax(-1);
            // Drop a token when the mass before it already reaches top_p; the most likely token always stays.
            var drop = (p.cumsum(-1) - p).gt(_topP);
            sorted = sorted.masked_fill(drop, _negInf);
            x = torch.empty_like(x).scatter_(-1, order, sorted);
        }
        return x.softmax(-1).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        _generator.Dispose();
        _temperature.Dispose(); _negInf.Dispose(); _topP.Dispose();
    }
}
