using Pardec.Dsl.Diagnostics;

namespace Pardec.Dsl.Tests;

/// <summary>One test per binding diagnostic; the expected span is marked inline.</summary>
public class BindingDiagnosticTests
{
    private static IEnumerable<Diagnostic> Compile(string text) => PdecCompiler.Compile(text, "test.pdec").Diagnostics;

    private static void Verify(string markup) => Markup.Verify(markup, Compile);

    private static string Message(string text) => Assert.Single(Compile(text)).Message;

    [Fact]
    public void PDEC1001_an_unknown_proposer_lists_the_proposers_and_suggests_the_nearest()
    {
        const string text = """
            strategy S
              canvas causal
              model target: causal
              model d: causal
              step
                propose {|PDEC1001:draftt|}(d, length: 4)
                verify target
                accept greedy
            end
            """;
        Verify(text);
        string message = Message(Markup.Parse(text).Text);
        Assert.Contains("draft, draft_tree, forced, heads, jacobi, lookup, self_draft, <pool>.match", message);
        Assert.Contains("did you mean 'draft'?", message);
    }

    [Fact]
    public void PDEC1002_an_unknown_model_kind_lists_the_kinds_and_suggests_the_nearest()
    {
        const string text = "strategy S\n  canvas causal\n  model target: {|PDEC1002:casual|}\n  step\n    verify target\n    accept greedy\nend";
        Verify(text);
        Assert.Contains("did you mean 'causal'?", Message(Markup.Parse(text).Text));
    }

    [Fact]
    public void PDEC1003_an_unknown_param_name_is_reported_with_the_declared_ones()
    {
        const string text = """
            strategy S
              canvas causal
              model target: causal
              model d: causal
              param gamma: int = 4 in 1..16
              step
                propose draft(d, length: {|PDEC1003:gama|})
                verify target
                accept greedy
            end
            """;
        Verify(text);
        Assert.Contains("did you mean 'gamma'?", Message(Markup.Parse(text).Text));
    }

    [Fact]
    public void PDEC1003_an_unknown_model_role_is_reported()
    {
        Verify("strategy S\n  canvas causal\n  model target: causal\n  step\n    verify {|PDEC1003:targte|}\n    accept greedy\nend");
    }

    [Fact]
    public void PDEC1004_a_name_declared_twice_is_reported_at_the_second_declaration()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              param target: int = 1
              step
                verify target
                accept greedy
            end
            """.Replace("param target", "param {|PDEC1004:target|}"));
    }

    [Fact]
    public void PDEC1005_a_default_outside_its_range_is_reported_at_the_default()
    {
        Verify("strategy S\n  canvas causal\n  model target: causal\n  param t: float = {|PDEC1005:0|} in (0, 1]\n  step\n    verify target\n    accept greedy\nend");
    }

    [Fact]
    public void PDEC1006_an_empty_range_is_reported()
    {
        Verify("strategy S\n  canvas causal\n  model target: causal\n  param g: int = 4 in {|PDEC1006:8..2|}\n  step\n    verify target\n    accept greedy\nend");
        Verify("strategy S\n  canvas causal\n  model target: causal\n  param t: float = 1 in {|PDEC1006:(1, 1]|}\n  step\n    verify target\n    accept greedy\nend");
    }

    [Fact]
    public void PDEC1007_a_value_of_the_wrong_type_is_reported()
    {
        Verify("strategy S\n  canvas causal\n  model target: causal\n  param g: int = {|PDEC1007:2.5|}\n  step\n    verify target\n    accept greedy\nend");
        Verify("""
            strategy S
              canvas causal
              model target: causal
              model d: causal
              param t: float = 0.5
              step
                propose draft(d, length: {|PDEC1007:t|})
                verify target
                accept greedy
            end
            """);
    }

    [Fact]
    public void PDEC1008_typical_acceptance_under_guarantee_lossless_is_reported()
    {
        Verify("""
            strategy S
              guarantee lossless
              canvas causal
              model target: causal
              model heads: medusa(target, 2)
              step
                propose heads(heads, tree: [[0], [1], [0, 0]])
                verify target
                accept {|PDEC1008:typical(eps: 0.1, delta: 0.3)|}
            end
            """);
    }

    [Fact]
    public void PDEC1008_a_confidence_commit_under_guarantee_lossless_is_reported()
    {
        Verify("""
            strategy S
              guarantee lossless
              canvas masked(block: 32)
              model m: masked
              step
                predict m
                commit {|PDEC1008:confidence >= 0.9|}, at least 1
              stop max_tokens
            end
            """);
    }

    [Fact]
    public void PDEC1009_rejection_with_a_proposer_without_probabilities_is_reported_at_the_proposer()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              step
                propose {|PDEC1009:lookup(max_ngram: 3, length: 5)|}
                verify target
                accept rejection
            end
            """);
    }

    [Fact]
    public void PDEC1009_rejection_with_heads_names_the_proposers_that_keep_q()
    {
        const string text = """
            strategy S
              canvas causal
              model target: causal
              model h: medusa(target, 3)
              step
                propose {|PDEC1009:heads(h)|}
                verify target
                accept rejection
            end
            """;
        Verify(text);
        Assert.Contains("(draft, self_draft)", Message(Markup.Parse(text).Text));
    }

    [Theory]
    [InlineData("heads(h, {|PDEC1019:sample|})", "model h: medusa(target, 3)")]
    [InlineData("draft_tree(d, depth: 2, topk: 2, {|PDEC1019:sample|})", "model d: causal")]
    public void PDEC1019_sample_on_a_proposer_that_cannot_sample_is_an_unknown_argument(string proposer, string model)
    {
        // Neither the Medusa proposer nor the draft tree samples: a 'sample' flag on them was accepted and consumed by nothing.
        Verify($"""
            strategy S
              canvas causal
              model target: causal
              {model}
              step
                propose {proposer}
                verify target
                accept greedy
            end
            """);
    }

    [Fact]
    public void PDEC1010_tree_verification_of_a_chain_proposer_is_reported()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              model d: causal
              step
                propose draft(d, length: 4)
                verify target {|PDEC1010:tree|}
                accept greedy
            end
            """);
    }

    [Fact]
    public void PDEC1011_chain_verification_of_a_tree_proposer_is_reported()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              model d: causal
              step
                propose {|PDEC1011:draft_tree(d, depth: 3, topk: 2)|}
                verify target chain
                accept greedy
            end
            """);
    }

    [Fact]
    public void PDEC1012_a_masked_canvas_with_a_causal_model_is_reported()
    {
        Verify("""
            strategy S
              canvas masked(block: 32)
              model m: masked
              model ar: {|PDEC1012:causal|}
              step
                predict m
                commit one
              stop max_tokens
            end
            """);
    }

    [Fact]
    public void PDEC1013_a_causal_only_statement_on_a_masked_canvas_is_reported()
    {
        Verify("""
            strategy S
              canvas masked(block: 32)
              model m: masked
              step
                predict m
                commit one
                {|PDEC1013:verify|} m
              stop max_tokens
            end
            """);
    }

    [Fact]
    public void PDEC1013_a_masked_only_cache_on_a_causal_canvas_is_reported()
    {
        Verify("strategy S\n  canvas causal\n  {|PDEC1013:cache|} dual\n  model target: causal\n  step\n    verify target\n    accept greedy\nend");
    }

    [Fact]
    public void PDEC1014_a_token_tree_that_is_not_prefix_closed_is_reported_at_the_orphan_path()
    {
        const string text = """
            strategy S
              canvas causal
              model target: causal
              model h: medusa(target, 3)
              step
                propose heads(h, tree: [[0], {|PDEC1014:[1, 0]|}, [0, 0]])
                verify target
                accept greedy
            end
            """;
        Verify(text);
        Assert.Contains("path [1, 0] has no parent path [1]", Message(Markup.Parse(text).Text));
    }

    [Fact]
    public void PDEC1015_a_token_tree_wider_than_max_width_is_reported()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              model h: medusa(target, 3)
              step
                propose heads(h, tree: {|PDEC1015:[[0], [1], [2], [0, 0]]|})
                verify target tree(max_width: 3)
                accept greedy
            end
            """);
    }

    [Fact]
    public void PDEC1027_a_lookahead_step_wider_than_max_width_is_reported_with_its_real_width()
    {
        // The Jacobi window proposes W tokens and the pool G n-grams of N - 1 tokens after the root: W + G(N - 1).
        const string text = """
            strategy S
              canvas causal
              model target: causal
              param window: int = 15 in 1..16
              param ngram: int = 5 in 2..8
              param guesses: int = 15 in 0..32
              state pool = ngram_pool(size: ngram)
              step
                propose {|PDEC1027:jacobi(window: window) + pool.match(guesses: guesses)|}
                verify target
                accept greedy
                update pool from jacobi
            end
            """;
        Verify(text);
        Assert.Contains("up to 75 candidate tokens", Message(Markup.Parse(text).Text));
    }

    [Fact]
    public void PDEC1019_jacobi_has_no_ngram_the_pool_has_the_size()
    {
        // 'ngram' never reached the Jacobi proposer (it keeps one level); the n-gram length is the pool's size.
        Verify("""
            strategy S
              canvas causal
              model target: causal
              state pool = ngram_pool(size: 3)
              step
                propose jacobi(window: 4, {|PDEC1019:ngram|}: 3) + pool.match(guesses: 2)
                verify target
                accept greedy
                update pool from jacobi
            end
            """);
    }

    [Fact]
    public void PDEC1017_a_masked_canvas_without_a_stop_condition_is_reported()
    {
        Verify("strategy {|PDEC1017:S|}\n  canvas masked(block: 32)\n  model m: masked\n  step\n    predict m\n    commit one\nend");
    }

    [Fact]
    public void PDEC1018_a_proposer_given_a_model_of_the_wrong_kind_is_reported()
    {
        const string text = """
            strategy S
              canvas causal
              model target: causal
              step
                propose heads({|PDEC1018:target|})
                verify target
                accept greedy
            end
            """;
        Verify(text);
        Assert.Contains("'target' is a causal model, but 'model' of 'heads' expects a medusa(...) model", Message(Markup.Parse(text).Text));
    }

    [Fact]
    public void PDEC1019_an_unknown_argument_lists_the_parameters()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              step
                propose jacobi(window: 4, {|PDEC1019:ngrams|}: 3)
                verify target
                accept greedy
            end
            """);
    }

    [Fact]
    public void PDEC1020_a_missing_required_argument_is_reported_at_the_call()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              model d: causal
              step
                propose {|PDEC1020:draft(d)|}
                verify target
                accept greedy
            end
            """);
    }

    [Fact]
    public void PDEC1021_a_second_canvas_is_reported()
    {
        Verify("strategy S\n  canvas causal\n  {|PDEC1021:canvas|} causal\n  model target: causal\n  step\n    verify target\n    accept greedy\nend");
    }

    [Fact]
    public void PDEC1022_a_causal_step_without_verify_is_reported_at_step()
    {
        Verify("strategy S\n  canvas causal\n  model target: causal\n  {|PDEC1022:step|}\n    accept greedy\nend");
    }

    [Fact]
    public void PDEC1023_an_unknown_acceptance_rule_lists_the_rules()
    {
        const string text = "strategy S\n  canvas causal\n  model target: causal\n  step\n    verify target\n    accept {|PDEC1023:gredy|}\nend";
        Verify(text);
        Assert.Contains("did you mean 'greedy'?", Message(Markup.Parse(text).Text));
    }

    [Fact]
    public void PDEC1024_an_update_from_an_invalid_source_is_reported()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              state pool = ngram_pool(size: 3)
              step
                propose pool.match(guesses: 2)
                verify target
                accept greedy
                update pool from {|PDEC1024:jacobi|}
            end
            """);
    }

    [Fact]
    public void PDEC1025_guarantee_distribution_with_typical_acceptance_is_reported()
    {
        Verify("strategy S\n  guarantee distribution\n  canvas causal\n  model target: causal\n  step\n    verify target\n    accept {|PDEC1025:typical(eps: 0.1, delta: 0.3)|}\nend");
    }

    [Fact]
    public void PDEC1026_a_literal_below_a_primitive_bound_is_reported()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              model d: causal
              step
                propose draft(d, length: {|PDEC1026:0|})
                verify target
                accept greedy
            end
            """);
    }

    [Fact]
    public void PDEC1027_a_chain_longer_than_max_width_is_reported()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              model d: causal
              param gamma: int = 8 in 1..100 runtime
              step
                propose {|PDEC1027:draft(d, length: {|PDEC3001:gamma|})|}
                verify target chain(max_width: 16)
                accept greedy
            end
            """);
    }

    [Fact]
    public void PDEC3001_a_runtime_param_that_sizes_a_proposal_is_reported_as_info()
    {
        const string text = """
            strategy S
              canvas causal
              model target: causal
              model d: causal
              param gamma: int = 4 in 1..16 runtime
              step
                propose draft(d, length: {|PDEC3001:gamma|})
                verify target
                accept greedy
            end
            """;
        Verify(text);
        CompileResult result = PdecCompiler.Compile(Markup.Parse(text).Text);
        Assert.Equal(DiagnosticSeverity.Info, Assert.Single(result.Diagnostics).Severity);
        Assert.Single(result.Plans);
        Assert.Contains("upper bound 16", result.Diagnostics[0].Message);
    }

    [Fact]
    public void PDEC1028_an_argument_given_twice_is_reported()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              step
                propose jacobi(window: 4, {|PDEC1028:window: 5|})
                verify target
                accept greedy
            end
            """);
    }

    [Fact]
    public void A_strategy_with_errors_yields_no_plan_but_its_valid_neighbours_do()
    {
        CompileResult result = PdecCompiler.Compile("""
            strategy Broken
              canvas causal
              model target: casual
              step
                verify target
                accept greedy
            end
            strategy Fine
              canvas causal
              model target: causal
              step
                verify target
                accept greedy
            end
            """);
        Assert.Equal("Fine", Assert.Single(result.Plans).Name);
        Assert.Equal("PDEC1002", Assert.Single(result.Diagnostics).Id);
    }

    [Fact]
    public void Every_descriptor_id_is_unique_and_in_its_range()
    {
        var ids = DiagnosticDescriptors.All.Select(d => d.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.All(DiagnosticDescriptors.All, d =>
        {
            Assert.Matches("^PDEC[0-3][0-9]{3}$", d.Id);
            Assert.Equal(d.Id.StartsWith("PDEC3", StringComparison.Ordinal), d.Severity == DiagnosticSeverity.Info);
        });
    }
    // ---- Rules the engines enforced at construction, now reported by the binder ----

    [Theory]
    [InlineData("propose {|PDEC1029:lookup(max_ngram: 3, length: 4)|}", "accept greedy")]
    [InlineData("propose draft(draft, length: 4, stop_below: {|PDEC1029:0.5|})", "accept greedy")]
    [InlineData("propose {|PDEC1029:draft(draft, length: 4) + draft(draft, length: 2)|}", "accept greedy")]
    [InlineData("propose draft(draft, length: {|PDEC1029:len|})", "accept greedy\n    update len from accept")]
    public void PDEC1029_what_the_batched_engine_cannot_run_is_reported_at_build_time(string propose, string accept)
    {
        // 'pardec check' accepted these and 'pardec run' refused them (or ignored stop_below) when the decoder was built.
        Verify($"""
            strategy S
              canvas causal(batch: 4)
              model target: causal
              model draft: causal
              state len = adaptive_length(min: 1, max: 4)
              step
                {propose}
                verify target
                {accept}
            end
            """);
    }

    [Fact]
    public void PDEC1029_rejection_is_not_available_batched()
    {
        Verify("""
            strategy S
              canvas causal(batch: 4)
              model target: causal
              model draft: causal
              step
                propose draft(draft, length: 4, {|PDEC1029:sample|})
                verify target
                accept {|PDEC1029:rejection|}
            end
            """);
    }

    [Theory]
    [InlineData("propose lookup(max_ngram: 2, length: 4, min_ngram: {|PDEC1030:3|})", "")]
    [InlineData("propose draft(d, length: len)", "state len = adaptive_length(min: {|PDEC1030:8|}, max: 4)")]
    [InlineData("propose lookup(max_ngram: 2, length: len)", "state len = cost_aware(max: 4, min: {|PDEC1030:6|})")]
    public void PDEC1030_a_lower_bound_above_its_upper_bound(string propose, string state)
    {
        Verify($"""
            strategy S
              canvas causal
              model target: causal
              model d: causal
              {state}
              step
                {propose}
                verify target
                accept greedy
            end
            """);
    }

    [Fact]
    public void PDEC1031_a_gauss_seidel_window_that_does_not_cut_into_equal_blocks()
    {
        var text = """
            strategy S
              canvas causal
              model target: causal
              param window: int = 10 in 1..32
              step
                propose jacobi(window: {|PDEC1031:window|}, blocks: 4)
                verify target
                accept greedy
            end
            """;
        Verify(text);
        Assert.Contains("'window' = 10 of 'jacobi' must be a multiple of 'blocks' = 4", Message(Markup.Parse(text).Text));
    }

    [Fact]
    public void PDEC1032_rejection_sampling_of_two_sampled_chains()
    {
        Verify("""
            strategy S
              guarantee distribution
              canvas causal
              model target: causal
              model a: causal
              model b: causal
              step
                propose {|PDEC1032:draft(a, length: 2, sample) + draft(b, length: 2, sample)|}
                verify target
                accept rejection
            end
            """);
    }

    [Fact]
    public void PDEC1033_draft_and_verify_with_an_approximate_cache()
    {
        Verify("""
            strategy S
              guarantee lossless
              canvas masked(block: 8)
              cache prefix
              model model: masked
              step
                predict model
                commit {|PDEC1033:draft_verify|}
              stop max_tokens
            end
            """);
    }

    [Fact]
    public void PDEC1033_a_verification_tree_with_an_approximate_cache()
    {
        Verify("""
            strategy S
              guarantee lossless
              canvas masked(block: 8)
              cache dual
              model model: masked
              step
                predict model
                commit {|PDEC1033:verify_tree(depth: 4, width: 2)|}
              stop max_tokens
            end
            """);
        Assert.Empty(Compile("strategy S\n  guarantee lossless\n  canvas masked(block: 8)\n  cache none\n  model model: masked\n  step\n    predict model\n    commit verify_tree(depth: 4, width: 2)\n  stop max_tokens\nend\n"));
    }

    [Fact]
    public void PDEC1060_pipelined_blocks_with_the_dual_cache()
    {
        Verify("""
            strategy S
              canvas masked(block: 8)
              cache dual
              model model: masked
              step
                predict model
                commit {|PDEC1060:pipelined(threshold: 0.9)|}, at least 1
              stop max_tokens
            end
            """);
        foreach (var cache in new[] { "none", "prefix" })
            Assert.Empty(Compile($"strategy S\n  canvas masked(block: 8)\n  cache {cache}\n  model model: masked\n  step\n    predict model\n    commit pipelined(threshold: 0.9), at least 1\n  stop max_tokens\nend\n"));
    }

    [Fact]
    public void PDEC1052_pipelined_blocks_under_a_declared_constraint()
    {
        Verify("""
            strategy S
              canvas masked(block: 8)
              constrain {|PDEC1052:regex("[a-z]+")|}
              model model: masked
              step
                predict model
                commit pipelined(threshold: 0.9, add: 0.25, ahead: 2), at least 1
              stop max_tokens
            end
            """);
    }

    [Fact]
    public void PDEC1026_rejection_at_temperature_zero_could_not_sample()
    {
        var text = """
            strategy S
              canvas causal
              model target: causal
              model d: causal
              step
                propose draft(d, length: 2, sample)
                verify target
                accept rejection(temperature: {|PDEC1026:0|})
            end
            """;
        Verify(text);
        Assert.Contains("expected > 0", Message(Markup.Parse(text).Text));
    }

    [Fact]
    public void PDEC1018_a_pool_method_on_a_state_of_another_kind()
    {
        Verify("""
            strategy S
              canvas causal
              model target: causal
              state len = adaptive_length(min: 1, max: 4)
              step
                propose {|PDEC1018:len|}.match(guesses: 2)
                verify target
                accept greedy
            end
            """);
    }
}
