using Pardec.Dsl;
using Pardec.Dsl.Plan;
using Xunit;

namespace Pardec.Dsl.Tests;

/// <summary>
/// What kind of denoiser a masked model is (<c>masked(block_causal: n, shifted: b)</c>) and what the binder makes of it:
/// the prefix cache is exact on a block-causal denoiser (allowed under <c>guarantee lossless</c>), an approximation on a
/// bidirectional one (PDEC1008), and what does not fit the model's blocks is PDEC1070.
/// </summary>
public sealed class DenoiserTests
{
    private static IReadOnlyList<Diagnostics.Diagnostic> Compile(string text) => PdecCompiler.Compile(text).Diagnostics;

    private static void Verify(string markup) => Markup.Verify(markup, Compile);

    private static string Strategy(string model, string cache = "prefix", string canvas = "masked(block: 8)", string commit = "one", string guarantee = "lossless", string extra = "") => $"""
        strategy S
          guarantee {guarantee}
          canvas {canvas}
          cache {cache}
          model model: {model}
          step
            predict model
            commit {commit}
        {extra}  stop eos, max_tokens
        end
        """;

    [Fact]
    public void The_prefix_cache_keeps_lossless_on_a_block_causal_denoiser_and_not_on_a_bidirectional_one()
    {
        Assert.Empty(Compile(Strategy("masked(block_causal: 32, shifted: true)")));
        Assert.Empty(Compile(Strategy("masked(block_causal: 8)")));
        Assert.Equal("PDEC1008", Assert.Single(Compile(Strategy("masked"))).Id);
        Assert.Equal("PDEC1008", Assert.Single(Compile(Strategy("masked(shifted: true)"))).Id);
        // Lossy commits stay lossy whatever the model.
        Assert.Equal("PDEC1008", Assert.Single(Compile(Strategy("masked(block_causal: 32)", commit: "confidence >= 0.9, at least 1"))).Id);
    }

    [Fact]
    public void The_denoiser_is_part_of_the_plan_and_prints_back()
    {
        var plan = PdecCompiler.Compile(Strategy("masked(block_causal: 32, shifted: true)")).Plans[0];
        var model = Assert.Single(plan.Models);
        Assert.Equal(new DenoiserPlan(Literal.Int(32), Literal.Bool(true)), model.Denoiser);
        Assert.Contains("model model: masked(block_causal: 32, shifted: true)", plan.Print());
        Assert.Equal(plan, PdecCompiler.Compile(plan.Print()).Plans[0]);
        Assert.Null(PdecCompiler.Compile(Strategy("masked", cache: "none")).Plans[0].Models[0].Denoiser);
        Assert.Equal("PDEC1007", Assert.Single(Compile(Strategy("masked(block_causal: 32, shifted: 1)"))).Id);
        Assert.Equal("PDEC1026", Assert.Single(Compile(Strategy("masked(block_causal: 0)"))).Id);
    }

    [Fact]
    public void PDEC1070_a_canvas_block_that_straddles_the_denoisers_blocks()
    {
        Verify("""
            strategy S
              canvas {|PDEC1070:masked(block: 12)|}
              cache prefix
              model model: masked(block_causal: 32)
              step
                predict model
                commit one
              stop eos
            end
            """);
    }

    [Fact]
    public void PDEC1070_a_dual_cache_an_adaptive_block_or_draft_and_verify_on_a_block_causal_denoiser()
    {
        Verify("""
            strategy S
              canvas masked(block: 32)
              {|PDEC1070:cache dual|}
              model model: masked(block_causal: 32)
              step
                predict model
                commit confidence >= 0.9
                {|PDEC1070:block adaptive(min: 8, max: 32)|}
              stop eos
            end
            """);
        Verify("""
            strategy S
              canvas masked(block: 32)
              cache none
              model model: masked(block_causal: 32)
              step
                predict model
                commit {|PDEC1070:draft_verify|}
              stop eos
            end
            """);
        var message = Assert.Single(Compile(Strategy("masked(block_causal: 32)", cache: "dual", guarantee: "none"))).Message;
        Assert.Contains("block-causal denoiser of block 32", message);
        Assert.Contains("cache prefix", message);
    }
}
