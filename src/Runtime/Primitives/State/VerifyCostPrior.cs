using Pardec.Runtime.Models;
using Pardec.Runtime.Quantization;
using TorchSharp;

namespace Pardec.Runtime.Primitives.State;

/// <summary>
/// What one forward of T new tokens costs relative to one token, per weight format, before anything was measured on
/// this machine: the starting point of <see cref="CostAwareLength"/>, which then replaces it with the step times it
/// observes. The curves are the forward sweep of the 106M padded target, one thread, on an AVX512_BF16 EPYC
/// (<c>benchmarks/results/forward-sweep-english-padded-dtypes.md</c>; the Qwen3-0.6B shape in
/// <c>forward-sweep-qwen3-0.6b-dtypes.md</c> has the same character: f32 pays ~1.5-2x for a second token, bf16 stays
/// near 1x to 8 tokens, int8/int4 grow almost linearly past 4). A wider forward is never taken as cheaper than a narrower
/// one (the measured f32 curve dips at 4 tokens: MKL picks another kernel there).
/// </summary>
public sealed class VerifyCostPrior
{
    private static readonly int[] SweepWidths = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32];

    public static readonly VerifyCostPrior Float32 = new("f32", SweepWidths, [1.00, 1.44, 1.67, 1.50, 1.71, 1.75, 1.81, 2.06, 2.09, 2.38, 2.67, 3.05, 3.57]);
    public static readonly VerifyCostPrior BFloat16 = new("bf16", SweepWidths, [1.00, 1.00, 1.01, 1.06, 1.06, 1.11, 1.15, 1.20, 1.29, 1.49, 1.53, 1.64, 1.88]);
    public static readonly VerifyCostPrior Int8 = new("int8", SweepWidths, [1.00, 1.07, 1.26, 1.29, 1.74, 1.80, 2.13, 2.57, 2.90, 3.69, 4.48, 5.35, 6.96]);
    public static readonly VerifyCostPrior Int4 = new("int4", SweepWidths, [1.00, 1.24, 1.34, 1.39, 1.96, 2.06, 2.33, 2.95, 3.25, 4.21, 5.15, 6.07, 7.98]);

    private readonly int[] _widths;
    private readonly double[] _ratios;

    /// <param name="widths">Token counts, increasing, starting at 1.</param>
    /// <param name="ratios">Cost of each width relative to one token (the first is 1).</param>
    public VerifyCostPrior(string name, int[] widths, double[] ratios)
    {
        if (widths.Length < 2 || widths.Length != ratios.Length || widths[0] != 1)
            throw new ArgumentException("A verify-cost curve needs at least two points, the first at one token.", nameof(widths));
        for (int i = 1; i < widths.Length; i++)
            if (widths[i] <= widths[i - 1]) throw new ArgumentException($"Widths must increase; {widths[i]} follows {widths[i - 1]}.", nameof(widths));
        Name = name;
        _widths = (int[])widths.Clone();
        _ratios = new double[ratios.Length];
        double running = 0;
        for (int i = 0; i < ratios.Length; i++) _ratios[i] = running = Math.Max(running, ratios[i] / ratios[0]);
    }

    /// <summary>The weight format the curve was measured for (f32, bf16, int8, int4).</summary>
    public string Name { get; }

    /// <summary>Cost of one forward of <paramref name="tokens"/> new tokens relative to one: interpolated between the
    /// measured widths, extended along the last segment past the widest.</summary>
    public double Cost(int tokens)
    {
        if (tokens <= 1) return 1;
        int i = 1;
        while (i < _widths.Length - 1 && _widths[i] < tokens) i++;
        double slope = (_ratios[i] - _ratios[i - 1]) / (_widths[i] - _widths[i - 1]);
        return Math.Max(_ratios[i - 1] + slope * (tokens - _widths[i - 1]), 1);
    }

    /// <summary>The curve for the model's weight format: its quantization if any, else its dtype (f16 takes f32's).</summary>
    public static VerifyCostPrior For(ICausalLM model) => (model as CausalLMBase)?.Quantization.Kind switch
    {
        WeightKind.Int8 => Int8,
        WeightKind.Int4 => Int4,
        _ => model.DType == torch.ScalarType.BFloat16 ? BFloat16 : Float32,
    };
}
