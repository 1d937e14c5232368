using Pardec.Runtime.Kernels;
using TorchSharp;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests.Kernels;

/// <summary>
/// <see cref="RowInvariantLinear"/>: a row's output must be the same bits whether it is multiplied alone or among 2-16
/// rows (a token verified alone or in a chain), and within float32 rounding of torch's own f32 linear.
/// </summary>
public sealed class RowInvariantLinearTests
{
    public RowInvariantLinearTests() => Init();

    // Widths that exercise every path: whole 16-float vectors, a scalar tail, fewer than four outputs left over.
    public static TheoryData<int, int> Shapes => new() { { 256, 688 }, { 344, 130 }, { 1000, 67 }, { 7, 5 } };

    [Theory, MemberData(nameof(Shapes))]
    public void A_rows_output_is_the_same_bits_alone_and_in_chains_of_2_to_16(int inFeatures, int outFeatures)
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(3);
        var w = randn([outFeatures, inFeatures], ScalarType.Float32, generator: gen).mul_(0.05);
        var b = randn([outFeatures], ScalarType.Float32, generator: gen);
        var x = randn([16, inFeatures], ScalarType.Float32, generator: gen);
        var alone = cat(Enumerable.Range(0, 16).Select(r => RowInvariantLinear.Forward(x.narrow(0, r, 1), w, b)).ToArray(), 0);
        for (int chain = 2; chain <= 16; chain++)
            for (int start = 0; start + chain <= 16; start += chain)
            {
                var together = RowInvariantLinear.Forward(x.narrow(0, start, chain).unsqueeze(0), w, b); // [1, chain, out]
                Assert.True(together.squeeze(0).eq(alone.narrow(0, start, chain)).all().item<bool>(),
                    $"[{inFeatures} -> {outFeatures}] rows {start}..{start + chain - 1}: max |diff| {MaxAbsDiff(together.squeeze(0), alone.narrow(0, start, chain))}");
            }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void It_agrees_with_torchs_f32_linear_within_float32_rounding(int inFeatures, int outFeatures)
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(4);
        var w = randn([outFeatures, inFeatures], ScalarType.Float32, generator: gen).mul_(0.05);
        var b = randn([outFeatures], ScalarType.Float32, generator: gen);
        var x = randn([2, 5, inFeatures], ScalarType.Float32, generator: gen);
        var ours = RowInvariantLinear.Forward(x, w, b);
        var theirs = nn.functional.linear(x, w, b);
        var exact = nn.functional.linear(x.to_type(ScalarType.Float64), w.to_type(ScalarType.Float64), b.to_type(ScalarType.Float64));
        Assert.Equal(theirs.shape, ours.shape);
        // Tolerance: a length-n float32 dot product's rounding error is bounded by about n * 2^-24 * sum |x_i w_i|;
        // both kernels must stay inside it (stated per element against the float64 product, and between them).
        var bound = x.abs().to_type(ScalarType.Float64).matmul(w.abs().to_type(ScalarType.Float64).t()).mul(inFeatures * Math.Pow(2, -24)).add(1e-6);
        Assert.True(ours.to_type(ScalarType.Float64).sub(exact).abs().le(bound).all().item<bool>(), $"ours vs f64: max {ours.to_type(ScalarType.Float64).sub(exact).abs().max().item<double>()}");
        Assert.True(theirs.to_type(ScalarType.Float64).sub(exact).abs().le(bound).all().item<bool>(), "torch vs f64");
        Assert.True(ours.sub(theirs).abs().max().item<float>() < 1e-4f, $"ours vs torch.linear: max {MaxAbsDiff(ours, theirs)}");
    }

    [Fact]
    public void It_applies_only_to_contiguous_float32_cpu_weights()
    {
        using var scope = NewDisposeScope();
        var x = randn([1, 8]);
        Assert.True(RowInvariantLinear.Applies(x, randn([4, 8])));
        Assert.False(RowInvariantLinear.Applies(x.to_type(ScalarType.BFloat16), randn([4, 8]).to_type(ScalarType.BFloat16)));
        Assert.False(RowInvariantLinear.Applies(x, randn([8, 4]).t()));
        Assert.False(RowInvariantLinear.Applies(x, randn([4, 7])));
        Assert.Throws<ArgumentException>(() => RowInvariantLinear.Forward(x, randn([4, 7])));
    }
}
