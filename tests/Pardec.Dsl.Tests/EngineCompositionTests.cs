using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Plan;

namespace Pardec.Dsl.Tests;

/// <summary>
/// Composition: a strategy of the file as the engine of another's draft (staged speculation). One test per rule the
/// binder checks on an engine; the expected span is marked inline.
/// </summary>
public class EngineCompositionTests
{
    private static IEnumerable<Diagnostic> Compile(string text) => PdecCompiler.Compile(text, "test.pdec").Diagnostics;

    private static void Verify(string markup) => Markup.Verify(markup, Compile);

    private const string Lookup = """
        strategy Inner
          canvas causal
          model target: causal
          step
            propose lookup(max_ngram: 2, length: 3)
            verify target
            accept greedy
        end

        """;

    private static string Outer(string engine, string extra = "") => $$"""
        strategy S
          guarantee lossless
          canvas causal
          model target: causal
          model d: causal
        {{extra}}  step
            propose draft(d, length: 4, engine: {{engine}})
            verify target
            accept greedy
        end
        """;

    [Fact]
    public void A_staged_plan_prints_its_engine_after_it_and_compiles_back_to_the_same_plans()
    {
        var result = PdecCompiler.Compile(Outer("Inner") + "\n" + Lookup);
        Assert.False(result.HasErrors, string.Join("\n", result.Diagnostics));
        var outer = result.Plans[0];
        Assert.Equal(new[] { "S", "Inner" }, result.Plans.Select(p => p.Name));
        Assert.Equal("Inner", Assert.Single(outer.Engines).Name);
        string printed = outer.Print();
        Assert.Contains("propose draft(d, length: 4, engine: Inner)", printed);
        var again = PdecCompiler.Compile(printed);
        Assert.False(again.HasErrors, string.Join("\n", again.Diagnostics));
        Assert.Equal(outer, again.Plans[0]);
        // The engine's proposers, built for the draft model: the staged primitive is resolved from the engine's own instances.
        var staged = ((CausalStepPlan)outer.Step).Instances[0];
        Assert.Equal("d = StagedDraftProposer(draft: d, maxLength: <maxlength>, length: 4, proposers: [PromptLookupProposer(maxNgram: 2, minNgram: 1, length: 3)], accept: GreedyAcceptance(), capacity: 4)", staged.ToString());
    }

    [Fact]
    public void An_engine_may_be_declared_after_the_strategy_that_names_it_and_binds_roles_by_argument()
    {
        const string inner = """
            strategy TwoStage
              canvas causal
              model target: causal
              model draft: causal
              step
                propose draft(draft, length: 2)
                verify target
                accept greedy
            end
            """;
        var result = PdecCompiler.Compile(Outer("TwoStage(draft: tiny)", "  model tiny: causal\n") + "\n" + inner);
        Assert.False(result.HasErrors, string.Join("\n", result.Diagnostics));
        var staged = ((CausalStepPlan)result.Plans[0].Step).Instances[0].ToString();
        // The engine verifies with the outer draft 'd'; its own draft is the outer 'tiny'.
        Assert.StartsWith("d = StagedDraftProposer(draft: d,", staged);
        Assert.Contains("proposers: [DraftModelProposer(draft: tiny,", staged);
    }

    [Fact]
    public void A_lossy_engine_is_only_a_draft_under_a_lossless_strategy()
    {
        const string lossy = """
            strategy Loose
              guarantee none
              canvas causal
              model target: causal
              step
                propose lookup(max_ngram: 2, length: 3)
                verify target
                accept typical(eps: 0.3, delta: 0.1)
            end
            """;
        Assert.Empty(Compile(Outer("Loose") + "\n" + lossy));
    }

    [Fact]
    public void PDEC1003_an_unknown_engine_lists_the_strategies_of_the_file()
    {
        Verify(Outer("{|PDEC1003:Innr|}") + "\n" + Lookup);
        Assert.Contains("did you mean 'Inner'?", Compile(Outer("Innr") + "\n" + Lookup).Single().Message);
    }

    [Fact]
    public void PDEC1040_a_strategy_cannot_draft_with_itself()
    {
        Verify(Outer("{|PDEC1040:S|}"));
    }

    [Fact]
    public void PDEC1040_two_strategies_that_draft_for_each_other_are_a_cycle()
    {
        const string b = """
            strategy B
              canvas causal
              model target: causal
              model d: causal
              step
                propose draft(d, length: 2, engine: {|PDEC1040:S|})
                verify target
                accept greedy
            end
            """;
        Verify(Outer("{|PDEC1042:B|}") + "\n" + b);
    }

    [Fact]
    public void PDEC1041_an_engine_draft_cannot_also_sample()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              model d: causal
              step
                propose draft(d, length: 4, engine: Inner, {|PDEC1041:sample|})
                verify target
                accept greedy
            end

            """ + Lookup);
    }

    [Fact]
    public void PDEC1042_a_masked_strategy_cannot_be_an_engine()
    {
        Verify(Outer("{|PDEC1042:M|}") + """

            strategy M
              canvas masked(block: 8)
              model model: masked
              step
                predict model
                commit one
              stop max_tokens
            end
            """);
    }

    public static TheoryData<string, string> Unusable => new()
    {
        { "samples", "  model q: causal\n  step\n    propose draft(q, length: 2, sample)\n    verify target\n    accept rejection\n" },
        { "updated after each step", "  model q: causal\n  state len = adaptive_length(min: 1, max: 4)\n  step\n    propose draft(q, length: len)\n    verify target\n    accept greedy\n    update len from accept\n" },
        { "hidden states", "  model heads: medusa(target, 2)\n  step\n    propose heads(heads)\n    verify target\n    accept greedy\n" },
    };

    [Fact]
    public void PDEC1042_an_engine_that_accepts_by_rejection_sampling_samples()
    {
        string engine = "strategy E\n  guarantee distribution\n  canvas causal\n  model target: causal\n  param t: float = 1 in (0, 2]\n  step\n    verify target\n    accept rejection(temperature: t)\nend\n";
        Verify(Outer("{|PDEC1042:E|}") + "\n" + engine);
    }

    [Theory, MemberData(nameof(Unusable))]
    public void PDEC1042_an_engine_runs_greedy_causal_steps_without_updates_or_hidden_states(string why, string step)
    {
        string engine = "strategy E\n  canvas causal\n  model target: causal\n" + step + "end\n";
        string outer = Outer("{|PDEC1042:E|}", "  model q: causal\n");
        Verify(outer + "\n" + engine);
        Assert.Contains(why, Compile(Markup.Parse(outer).Text + "\n" + engine).Single().Message);
    }

    [Fact]
    public void PDEC1042_an_engine_with_errors_of_its_own_is_reported_at_its_use_too()
    {
        Verify(Outer("{|PDEC1042:Inner|}") + "\n" + Lookup.Replace("accept greedy", "accept {|PDEC1023:gredy|}"));
    }

    [Fact]
    public void PDEC1020_an_engine_role_without_an_outer_model_must_be_bound()
    {
        const string inner = """
            strategy TwoStage
              canvas causal
              model target: causal
              model small: causal
              step
                propose draft(small, length: 2)
                verify target
                accept greedy
            end
            """;
        Verify(Outer("{|PDEC1020:TwoStage|}") + "\n" + inner);
    }

    [Fact]
    public void PDEC1019_an_engine_binds_only_its_own_roles()
    {
        Verify(Outer("Inner({|PDEC1019:target|}: d)") + "\n" + Lookup);
    }
}
