using Pardec.Dsl.Collections;
using Pardec.Dsl.Plan;

namespace Pardec.Dsl.Tests;

public class DecodePlanTests
{
    private const string Lookahead = """
        strategy Lookahead
          paper "Break the Sequential Dependency of LLM Inference Using Lookahead Decoding"
          guarantee lossless
          canvas causal
          model target: causal
          param window: int = 5 in 1..16
          param ngram: int = 3 in 2..8
          param guesses: int = 5 in 0..32
          param threshold: float = 0.9 in (0, 1] runtime     # unused here; shows the interval form
          state pool = ngram_pool(size: ngram)
          step
            propose jacobi(window: window) + pool.match(guesses: guesses)
            verify target
            accept greedy
            update pool from jacobi
          stop eos, max_tokens
        end
        """;

    private static DecodePlan CompileOne(string text)
    {
        CompileResult result = PdecCompiler.Compile(text, "test.pdec");
        Assert.True(result.Diagnostics.IsEmpty, string.Join("\n", result.Diagnostics));
        return Assert.Single(result.Plans);
    }

    [Fact]
    public void The_lookahead_plan_prints_in_its_stable_form()
    {
        Assert.Equal("""
            strategy Lookahead
              paper "Break the Sequential Dependency of LLM Inference Using Lookahead Decoding"
              guarantee lossless
              canvas causal
              model target: causal
              param window: int = 5 in 1..16
              param ngram: int = 3 in 2..8
              param guesses: int = 5 in 0..32
              param threshold: float = 0.9 in (0.0, 1.0] runtime
              state pool = ngram_pool(size: ngram)
              step
                propose jacobi(window: window) + pool.match(guesses: guesses)
                verify target tree(max_width: 64)  # worst-case width 15
                accept greedy
                update pool from jacobi
              stop eos, max_tokens
            end

            """.Replace("\r\n", "\n"), CompileOne(Lookahead).Print());
    }

    [Fact]
    public void A_masked_plan_prints_its_cache_commit_and_block()
    {
        DecodePlan plan = CompileOne("""
            strategy A
              canvas masked(block: 32)
              cache dual
              model m: masked
              state trace = credits(decay: 0.5)
              step
                predict m
                commit credit(trace) >= 0.8, at least 1
                block adaptive(min: 8, max: 64)
                update trace from predict
              stop eot(0.95), max_tokens(256)
            end
            """);
        Assert.Equal("""
            strategy A
              guarantee none
              canvas masked(block: 32)
              cache dual
              model m: masked
              state trace = credits(decay: 0.5)
              step
                predict m
                commit credit(trace) >= 0.8, at least 1
                block adaptive(min: 8, max: 64)
                update trace from predict
              stop eot(0.95), max_tokens(256)
            end

            """.Replace("\r\n", "\n"), plan.Print());
    }

    [Fact]
    public void The_lookahead_plan_has_the_expected_structure()
    {
        DecodePlan plan = CompileOne(Lookahead);
        Assert.Equal(Guarantee.Lossless, plan.Guarantee);
        Assert.Equal(new CanvasPlan(CanvasKind.Causal, null, CacheMode.Kv, null), plan.Canvas);
        Assert.Equal(new ParamPlan("threshold", ParamType.Float, Literal.Float(0.9), new RangePlan(0, false, 1, true), true), plan.FindParam("threshold"));
        var step = Assert.IsType<CausalStepPlan>(plan.Step);
        Assert.Equal(
            new ProposerPlan[]
            {
                new JacobiProposerPlan(new ParamRef("window"), null),
                new PoolMatchProposer("pool", new ParamRef("guesses")),
            },
            step.Proposers.ToArray());
        Assert.Equal(new VerifyPlan("target", VerifyMode.Tree, 64, 15), step.Verify); // W + G(N - 1) = 5 + 5 * 2
        Assert.Equal(new GreedyAccept(), step.Accept);
        Assert.Equal(new UpdatePlan("pool", "jacobi"), Assert.Single(step.Updates));
    }

    [Fact]
    public void Plans_compiled_twice_from_the_same_text_are_equal_with_equal_hashes()
    {
        DecodePlan a = CompileOne(Lookahead);
        DecodePlan b = CompileOne(Lookahead);
        Assert.NotSame(a, b);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
    }

    [Fact]
    public void Comments_and_layout_do_not_change_the_plan()
    {
        string relaid = Lookahead.Replace("  ", "    ").Replace("# unused here; shows the interval form", "# another comment");
        Assert.Equal(CompileOne(Lookahead), CompileOne(relaid));
    }

    [Fact]
    public void A_changed_default_changes_the_plan()
    {
        Assert.NotEqual(CompileOne(Lookahead), CompileOne(Lookahead.Replace("int = 5 in 1..16", "int = 6 in 1..16")));
    }

    [Fact]
    public void Equatable_arrays_compare_by_element()
    {
        EquatableArray<int> a = new[] { 1, 2, 3 };
        EquatableArray<int> b = new List<int> { 1, 2, 3 };
        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, (EquatableArray<int>)new[] { 1, 2 });
        Assert.Equal(default(EquatableArray<int>), EquatableArray<int>.Empty);
        Assert.Equal(default, (EquatableArray<int>)Array.Empty<int>());
    }

    [Fact]
    public void The_worst_case_width_uses_the_upper_bound_of_a_runtime_param()
    {
        DecodePlan plan = PdecCompiler.Compile("""
            strategy S
              canvas causal
              model target: causal
              model d: causal
              param gamma: int = 4 in 1..16 runtime
              step
                propose draft(d, length: gamma)
                verify target
                accept greedy
            end
            """).Plans[0];
        Assert.Equal(16, ((CausalStepPlan)plan.Step).Verify.Width);
        Assert.Equal(VerifyMode.Chain, ((CausalStepPlan)plan.Step).Verify.Mode);
    }

    [Fact]
    public void The_builder_produces_the_same_plan_as_the_text_and_maps_diagnostics_to_origins()
    {
        BuiltStrategy built = new StrategyBuilder("PromptLookup")
            .Guarantee("lossless", origin: "[Strategy(Guarantee.Lossless)]")
            .Canvas("causal")
            .Model("target", "causal", origin: "Target")
            .Param("max_ngram", "int", "3", "1..8", origin: "MaxNgram")
            .Statement("propose lookup(max_ngram: max_ngram, length: 10)", origin: "Propose")
            .Statement("verify target")
            .Statement("accept greedy", origin: "Rule")
            .Build("PromptLookup.cs");
        DecodePlan fromBuilder = Assert.Single(built.Compile().Plans);
        DecodePlan fromText = CompileOne("""
            strategy PromptLookup
              guarantee lossless
              canvas causal
              model target: causal
              param max_ngram: int = 3 in 1..8
              step
                propose lookup(max_ngram: max_ngram, length: 10)
                verify target
                accept greedy
            end
            """);
        Assert.Equal(fromText, fromBuilder);

        BuiltStrategy broken = new StrategyBuilder("Broken")
            .Guarantee("lossless")
            .Canvas("causal")
            .Model("target", "causal")
            .Param("max_ngram", "int", "30", "1..8", origin: "MaxNgram")
            .Statement("verify target")
            .Statement("accept typical(eps: 0.1, delta: 0.2)", origin: "Rule")
            .Build();
        var diagnostics = broken.Compile().Diagnostics;
        Assert.Equal(new object?[] { "MaxNgram", "Rule" }, diagnostics.Select(broken.OriginOf).ToArray());
        Assert.Equal(new[] { "PDEC1005", "PDEC1008" }, diagnostics.Select(d => d.Id).ToArray());
    }
}
