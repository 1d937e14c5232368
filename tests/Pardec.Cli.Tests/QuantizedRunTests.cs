using Xunit;

namespace Pardec.Cli.Tests;

/// <summary>
/// <c>--dtype int8|int4</c>: weights quantized as they load (docs/quantization.md). Lossless strategies on a quantized
/// model print what greedy decoding of that same quantized model prints; a group size the kernel lacks is refused.
/// </summary>
public sealed class QuantizedRunTests
{
    private static readonly string[] Tiny = ["--prompt", "And God said", "--max-tokens", "12"];

    [Theory]
    [InlineData("int8")]
    [InlineData("int4")]
    public void Lossless_strategies_on_a_quantized_model_print_greedy_decoding_of_that_model(string dtype)
    {
        string Text(CliResult r) => r.Out[..r.Out.LastIndexOf('[')];
        var greedy = CliDriver.RunTiny(["run", "Greedy", "--dtype", dtype, .. Tiny]);
        Assert.True(greedy.ExitCode == 0, greedy.ToString());
        foreach (string strategy in new[] { "SpeculativeGreedy", "PromptLookup", "Lookahead" })
        {
            var r = CliDriver.RunTiny(["run", strategy, "--dtype", dtype, .. Tiny]);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal(Text(greedy), Text(r));
        }
    }

    [Fact]
    public void A_group_size_the_int4_kernel_lacks_is_refused_with_the_valid_ones()
    {
        var bad = CliDriver.RunTiny(["run", "Greedy", "--dtype", "int4-g16", .. Tiny]);
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("--dtype int4-g16: libtorch's int4 CPU kernel takes groups of 32, 64, 128, 256", bad.Err);
    }
}
