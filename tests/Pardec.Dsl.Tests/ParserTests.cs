using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Syntax;

namespace Pardec.Dsl.Tests;

public class ParserTests
{
    private static IEnumerable<Diagnostic> Parse(string text) => SyntaxTree.Parse(text, "test.pdec").Diagnostics;

    [Fact]
    public void The_lookahead_example_parses_without_diagnostics()
    {
        SyntaxTree tree = SyntaxTree.Parse("""
            strategy Lookahead
              paper "Break the Sequential Dependency of LLM Inference Using Lookahead Decoding"
              guarantee lossless
              canvas causal
              model target: causal
              param window: int = 5 in 1..16
              param threshold: float = 0.9 in (0, 1] runtime   # settable at run time
              state pool = ngram_pool(size: ngram)
              step
                propose jacobi(window: window, ngram: ngram) + pool.match(guesses: guesses)
                verify target
                accept greedy
                update pool from jacobi
              stop eos, max_tokens
            end
            """);

        Assert.Empty(tree.Diagnostics);
        StrategySyntax strategy = Assert.Single(tree.Root.Strategies);
        Assert.Equal("Lookahead", strategy.Identifier.Text);
        Assert.Equal(9, strategy.Members.Count);
        StepSyntax step = Assert.IsType<StepSyntax>(strategy.Members[7]);
        Assert.Equal(4, step.Statements.Count);
        ParamSyntax threshold = Assert.IsType<ParamSyntax>(strategy.Members[5]);
        Assert.False(threshold.Range!.LowerInclusive);
        Assert.True(threshold.Range!.UpperInclusive);
        Assert.NotNull(threshold.RuntimeKeyword);
    }

    [Fact]
    public void The_syntax_tree_dump_is_stable()
    {
        SyntaxTree tree = SyntaxTree.Parse("""
            strategy S
              step
                propose draft(d, length: 4) + pool.match
            end
            """);

        Assert.Equal("""
            CompilationUnit
              Strategy
                IdentifierToken strategy
                IdentifierToken S
                StepMember
                  IdentifierToken step
                  ProposeStatement
                    IdentifierToken propose
                    CallExpression
                      IdentifierToken draft
                      ArgumentList
                        OpenParenToken
                        Argument
                          NameExpression
                            IdentifierToken d
                        CommaToken
                        Argument
                          IdentifierToken length
                          ColonToken
                          LiteralExpression
                            NumberToken 4
                        CloseParenToken
                    PlusToken
                    MemberCallExpression
                      IdentifierToken pool
                      DotToken
                      IdentifierToken match
                IdentifierToken end
              EndOfFileToken

            """, tree.Root.Dump().Replace("\r\n", "\n"));
    }

    [Fact]
    public void A_missing_colon_is_fabricated_with_zero_width_and_reported_at_the_unexpected_token()
    {
        Markup.Verify("""
            strategy S
              model target {|PDEC0003:causal|}
            end
            """, Parse);

        SyntaxTree tree = SyntaxTree.Parse("strategy S\n  model target causal\nend");
        ModelSyntax model = Assert.IsType<ModelSyntax>(tree.Root.Strategies[0].Members[0]);
        Assert.True(model.Colon.IsMissing);
        Assert.Equal(0, model.Colon.Span.Length);
    }

    [Fact]
    public void An_unknown_member_keyword_lists_the_choices_and_suggests_the_nearest()
    {
        SyntaxTree tree = SyntaxTree.Parse("strategy S\n  canvs causal\nend");
        Diagnostic diagnostic = Assert.Single(tree.Diagnostics);
        Assert.Equal("PDEC0004", diagnostic.Id);
        Assert.Contains("did you mean 'canvas'?", diagnostic.Message);
        Assert.Contains("paper, guarantee, canvas, cache, model, param, state, step, stop", diagnostic.Message);
        Markup.Verify("strategy S\n  {|PDEC0004:canvs|} causal\nend", Parse);
    }

    [Fact]
    public void An_unknown_step_statement_suggests_the_nearest_keyword()
    {
        SyntaxTree tree = SyntaxTree.Parse("strategy S\n  step\n    verfy target\nend");
        Assert.Contains("did you mean 'verify'?", Assert.Single(tree.Diagnostics).Message);
    }

    [Fact]
    public void A_step_statement_outside_step_says_it_belongs_inside_step()
    {
        SyntaxTree tree = SyntaxTree.Parse("strategy S\n  verify target\nend");
        Assert.Contains("belongs inside 'step'", Assert.Single(tree.Diagnostics).Message);
    }

    [Fact]
    public void Extra_tokens_after_a_statement_are_skipped_with_one_error()
    {
        Markup.Verify("""
            strategy S
              canvas causal {|PDEC0006:extra|} tokens here
              guarantee lossless
            end
            """, Parse);
    }

    [Fact]
    public void A_line_with_several_problems_reports_only_the_first()
    {
        Markup.Verify("""
            strategy S
              param {|PDEC0003::|} = in ..
              guarantee lossless
            end
            """, Parse);
    }

    [Fact]
    public void A_missing_end_at_the_end_of_the_file_is_reported_there()
    {
        Markup.Verify("strategy S\n  canvas causal\n{|PDEC0003:|}", Parse);
    }

    [Fact]
    public void A_missing_end_before_the_next_strategy_does_not_lose_the_next_strategy()
    {
        SyntaxTree tree = SyntaxTree.Parse("strategy A\n  canvas causal\nstrategy B\n  canvas causal\nend\n");
        Assert.Equal(new[] { "A", "B" }, tree.Root.Strategies.Select(s => s.Identifier.Text));
        Assert.Equal("PDEC0003", Assert.Single(tree.Diagnostics).Id);
        Assert.True(tree.Root.Strategies[0].EndKeyword.IsMissing);
    }

    [Fact]
    public void An_unclosed_parenthesis_does_not_swallow_the_following_lines()
    {
        SyntaxTree tree = SyntaxTree.Parse("""
            strategy S
              state pool = ngram_pool(size: 3
              canvas causal
            end
            """);
        Assert.Equal("PDEC0003", Assert.Single(tree.Diagnostics).Id);
        Assert.Equal(2, tree.Root.Strategies[0].Members.Count);
    }

    [Fact]
    public void A_token_tree_may_span_several_lines()
    {
        SyntaxTree tree = SyntaxTree.Parse("""
            strategy S
              step
                propose heads(heads, tree: [[0], [1],
                                            [0, 0]])
                verify target
            end
            """);
        Assert.Empty(tree.Diagnostics);
        Assert.Equal(2, Assert.IsType<StepSyntax>(tree.Root.Strategies[0].Members[0]).Statements.Count);
    }

    [Fact]
    public void Junk_at_the_top_level_is_reported_once_per_run()
    {
        Markup.Verify("{|PDEC0007:hello|} world\nmore junk\nstrategy S\nend\n", Parse);
    }

    [Fact]
    public void An_unterminated_string_is_reported_and_the_next_line_still_parses()
    {
        Markup.Verify("strategy S\n  paper {|PDEC0002:\"Title|}\n  canvas causal\nend", Parse);
    }

    [Fact]
    public void An_unexpected_character_is_reported_and_skipped()
    {
        Markup.Verify("strategy S\n  canvas causal {|PDEC0001:$|}\nend", Parse);
    }

    [Fact]
    public void A_malformed_number_is_reported()
    {
        Markup.Verify("strategy S\n  param g: int = {|PDEC0005:4x|}\nend", Parse);
    }

    [Fact]
    public void A_missing_expression_is_reported_where_it_belongs()
    {
        Markup.Verify("strategy S\n  canvas{|PDEC0008:|}\nend", Parse);
    }

    [Fact]
    public void Commit_rules_parse_operands_and_at_least_clauses()
    {
        SyntaxTree tree = SyntaxTree.Parse("""
            strategy S
              step
                commit top 2
                commit confidence >= threshold, at least 1
            end
            """);
        Assert.Empty(tree.Diagnostics);
        var statements = Assert.IsType<StepSyntax>(tree.Root.Strategies[0].Members[0]).Statements;
        Assert.NotNull(Assert.IsType<CommitSyntax>(statements[0]).Operand);
        CommitSyntax threshold = Assert.IsType<CommitSyntax>(statements[1]);
        Assert.IsType<ComparisonExpressionSyntax>(threshold.Rule);
        Assert.NotNull(threshold.AtLeast);
    }
}
