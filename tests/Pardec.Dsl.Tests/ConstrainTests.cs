using Pardec.Dsl.Binding;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;

namespace Pardec.Dsl.Tests;

/// <summary>
/// The <c>constrain</c> statement: what it binds to, where errors inside a pattern, schema or grammar are reported (the
/// literal or the file), and the composition rules of docs/language.md, one test per diagnostic.
/// </summary>
public class ConstrainTests
{
    private const string Dir = "/strategies/";

    private static readonly Dictionary<string, string> Files = new()
    {
        [Dir + "person.json"] = """{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}""",
        [Dir + "bad.json"] = "{\n  \"type\": \"object\",\n  \"propertys\": {}\n}",
        [Dir + "broken.json"] = "{\"type\": \"object\",,}",
        [Dir + "answer.gbnf"] = "root ::= \"yes\" | \"no\"\n",
        [Dir + "bad.gbnf"] = "root ::= \"a\" (\"b\"\n",
        [Dir + "list.gbnf"] = "root ::= item\nitem ::= \"[\" item? \"]\"\n",
        [Dir + "sum.gbnf"] = "root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"\n",
        [Dir + "tree.json"] = """{"$defs": {"node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}, "$ref": "#/$defs/node"}""",
        [Dir + "loop.json"] = """{"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "null"}]}}, "$ref": "#/$defs/a"}""",
    };

    private static CompileResult Compile(string text, PrimitiveLibrary? library = null) =>
        PdecCompiler.Compile(text, Dir + "test.pdec", library, path => Files.TryGetValue(path, out var t) ? t : null);

    private static IEnumerable<Diagnostic> Diagnostics(string text) => Compile(text).Diagnostics;

    private static void Verify(string markup) => Markup.Verify(markup, Diagnostics);

    private static string Strategy(string constrain, string propose = "draft(draft, length: 4)", string accept = "greedy", string canvas = "causal", string guarantee = "lossless") => $"""
        strategy S
          guarantee {guarantee}
          canvas {canvas}
          {constrain}
          model target: causal
          model draft: causal
          step
            propose {propose}
            verify target
            accept {accept}
        end
        """;

    [Theory]
    [InlineData("constrain regex(\"[0-9]+\")", "regex(\"[0-9]+\")", "RegexConstraint", false)]
    [InlineData("constrain json(schema: \"person.json\")", "json(schema: \"person.json\")", "JsonSchemaConstraint", false)]
    [InlineData("constrain json", "json", "AnyJsonConstraint", false)]
    [InlineData("constrain grammar(\"answer.gbnf\")", "grammar(\"answer.gbnf\")", "GbnfConstraint", false)]
    [InlineData("constrain runtime", "runtime", "RequestConstraint", true)]
    public void A_constraint_binds_to_its_descriptor_and_prints_as_written(string constrain, string printed, string type, bool perRequest)
    {
        var result = Compile(Strategy(constrain));
        Assert.Empty(result.Diagnostics);
        var plan = Assert.Single(result.Plans);
        Assert.Equal(printed, plan.Constraint!.ToString());
        Assert.Equal(perRequest, plan.Constraint.PerRequest);
        Assert.Contains("  constrain " + printed + "\n", plan.Print());
        var instance = ((CausalStepPlan)plan.Step).Instances[0];
        Assert.Equal(PrimitiveRole.Constraint, instance.Role);
        Assert.Equal("Pardec.Runtime.Constraints." + type, instance.RuntimeType);
        Assert.Equal(perRequest, !instance.Arguments.Any(a => a.Value is EngineArgument { Value: EngineValue.Vocabulary }));

        // The printed plan compiles to the same plan (valid .pdec text, files read again).
        Assert.Equal(plan, Assert.Single(Compile(plan.Print()).Plans));
    }

    [Fact]
    public void A_schema_file_reaches_the_instance_as_its_text_and_its_path()
    {
        var plan = Assert.Single(Compile(Strategy("constrain json(schema: \"person.json\")")).Plans);
        var instance = ((CausalStepPlan)plan.Step).Instances[0];
        Assert.Equal(new StringValue(Files[Dir + "person.json"]), instance.Argument("schema")!.Value);
        Assert.Equal(new StringValue("person.json"), instance.Argument("file")!.Value);
        Assert.Equal(Files[Dir + "person.json"], plan.Constraint!.Arguments[0].FileText);
    }

    [Fact]
    public void A_regex_with_escapes_prints_and_reparses_to_the_same_pattern()
    {
        var plan = Assert.Single(Compile(Strategy("constrain regex(\"\\\\d{3}-\\\\\\\\ \\\"x\\\"\")")).Plans);
        var pattern = (StringValue)((CausalStepPlan)plan.Step).Instances[0].Argument("pattern")!.Value;
        Assert.Equal("\\d{3}-\\\\ \"x\"", pattern.Value);
        Assert.Equal(plan, Assert.Single(Compile(plan.Print()).Plans));
    }

    [Fact]
    public void PDEC1023_an_unknown_constraint_lists_the_constraints()
    {
        Verify(Strategy("constrain {|PDEC1023:regexp(\"a\")|}"));
        Assert.Contains("regex(pattern), json, grammar(file), runtime", Assert.Single(Diagnostics(Strategy("constrain regexp(\"a\")"))).Message);
    }

    [Fact]
    public void PDEC1021_a_strategy_has_one_constrain_statement()
    {
        Verify(Strategy("constrain runtime\n  {|PDEC1021:constrain|} runtime"));
    }

    [Fact]
    public void PDEC1050_a_regex_syntax_error_is_reported_at_its_position_in_the_literal()
    {
        // The unbalanced '(' is the 4th character of the pattern; the literal's escapes (\\d is two characters) are counted.
        Verify(Strategy("constrain regex(\"\\\\d+{|PDEC1050:(|}a\")"));
        Assert.Contains("Invalid regex: missing ')' for this '('", Assert.Single(Diagnostics(Strategy("constrain regex(\"\\\\d+(a\")"))).Message);
    }

    [Fact]
    public void PDEC1050_a_schema_error_is_reported_in_the_schema_file_at_its_line_and_column()
    {
        var d = Assert.Single(Diagnostics(Strategy("constrain json(schema: \"bad.json\")")));
        Assert.Equal("PDEC1050", d.Id);
        Assert.Equal(Dir + "bad.json", d.Location.Path);
        Assert.Equal((2, 2), (d.Location.Start.Line, d.Location.Start.Character)); // "propertys", line 3 column 3 (0-based 2, 2)
        Assert.Contains("the keyword 'propertys' is not supported", d.Message);
        var broken = Assert.Single(Diagnostics(Strategy("constrain json(schema: \"broken.json\")")));
        Assert.Equal((Dir + "broken.json", "PDEC1050"), (broken.Location.Path, broken.Id));
        Assert.Contains("not valid JSON", broken.Message);
        Assert.Empty(Compile(Strategy("constrain json(schema: \"bad.json\")")).Plans);
    }

    [Fact]
    public void PDEC1050_a_grammar_error_is_reported_in_the_grammar_file()
    {
        var d = Assert.Single(Diagnostics(Strategy("constrain grammar(\"bad.gbnf\")")));
        Assert.Equal(("PDEC1050", Dir + "bad.gbnf", 13), (d.Id, d.Location.Path, d.Span.Start));
        Assert.Contains("missing ')'", d.Message);
    }

    [Fact]
    public void PDEC1051_a_file_that_is_not_there_names_the_path_it_looked_for()
    {
        Verify(Strategy("constrain json(schema: {|PDEC1051:\"missing.json\"|})"));
        Assert.Contains("/strategies/missing.json", Assert.Single(Diagnostics(Strategy("constrain json(schema: \"missing.json\")"))).Message);
        // Without a file reader (no generator, no disk) the same error, not an exception.
        Assert.Equal("PDEC1051", Assert.Single(PdecCompiler.Compile(Strategy("constrain grammar(\"answer.gbnf\")"), "x.pdec").Diagnostics).Id);
    }

    [Fact]
    public void PDEC1052_a_masked_canvas_takes_a_declared_regular_constraint_and_refuses_a_request_one()
    {
        // DINGO's block program (MaskedSession) follows regular constraints: regex, json and a non-recursive grammar
        // are accepted on a masked canvas; 'constrain runtime' is not (its regularity is unknown when the strategy is built).
        string Masked(string constrain) => $"strategy M\n  canvas masked(block: 8)\n  constrain {constrain}\n  model model: masked\n  step\n    predict model\n    commit one\n  stop max_tokens\nend\n";
        Assert.Empty(Diagnostics(Masked("regex(\"[a-z]+\")")));
        const string text = """
            strategy M
              canvas masked(block: 8)
              constrain {|PDEC1052:runtime|}
              model model: masked
              step
                predict model
                commit one
              stop max_tokens
            end
            """;
        Verify(text);
        Assert.Contains("declares (regex, json, a non-recursive grammar)", Assert.Single(Diagnostics(Markup.Parse(text).Text)).Message);
    }

    [Fact]
    public void PDEC1052_once_a_constraint_runs_on_masked_canvases_only_a_regular_one_is_accepted_there()
    {
        // The flip the masked engine makes when it follows constraints: Masked among the descriptor's canvases.
        var library = PrimitiveLibrary.Default;
        foreach (var d in PrimitiveLibrary.Default.OfRole(PrimitiveRole.Constraint).ToList())
            library = library.With(d with { Canvases = new[] { CanvasKind.Causal, CanvasKind.Masked }, ContextFree = true });
        string Masked(string constrain) => $"strategy M\n  canvas masked(block: 8)\n  constrain {constrain}\n  model model: masked\n  step\n    predict model\n    commit one\n  stop max_tokens\nend\n";
        Assert.Empty(Compile(Masked("regex(\"[a-z]+\")"), library).Diagnostics);
        Assert.Empty(Compile(Masked("grammar(\"answer.gbnf\")"), library).Diagnostics);
        Assert.Equal("PDEC1052", Assert.Single(Compile(Masked("grammar(\"list.gbnf\")"), library).Diagnostics).Id);
        Assert.Equal("PDEC1052", Assert.Single(Compile(Masked("runtime"), library).Diagnostics).Id);
    }

    [Fact]
    public void PDEC1053_jump_forward_needs_a_constraint()
    {
        Verify(Strategy(string.Empty, propose: "{|PDEC1053:forced(length: 8)|} + draft(draft, length: 4)"));
        Assert.Empty(Diagnostics(Strategy("constrain runtime", propose: "forced(length: 8) + draft(draft, length: 4)")));
    }

    [Fact]
    public void PDEC1054_rejection_sampling_under_a_constraint_needs_a_draft_drawn_under_the_mask()
    {
        // A sampling proposer that does not mask its draft: its forbidden samples would be pruned, which skews the output.
        var draft = PrimitiveLibrary.Default.Find(PrimitiveRole.Proposer, "draft")!;
        var library = PrimitiveLibrary.Default.With(draft with { Name = "plain_draft", MasksDrafts = false });
        string text = Strategy("constrain regex(\"[a-z ]+\")", propose: "{|PDEC1054:plain_draft(draft, length: 4, sample)|}", accept: "rejection", guarantee: "distribution");
        Markup.Verify(text, t => Compile(t, library).Diagnostics);
        // The library's own sampling drafts mask q(x): fine; and without a guarantee the rule does not apply.
        Assert.Empty(Diagnostics(Strategy("constrain regex(\"[a-z ]+\")", propose: "draft(draft, length: 4, sample)", accept: "rejection", guarantee: "distribution")));
        Assert.Empty(Compile(Strategy("constrain runtime", propose: "plain_draft(draft, length: 4, sample)", accept: "rejection", guarantee: "none"), library).Diagnostics);
    }

    [Theory]
    [InlineData("grammar(\"list.gbnf\")")]
    [InlineData("json(schema: \"tree.json\")")]
    public void A_recursive_grammar_or_schema_runs_on_a_causal_canvas_and_is_not_regular(string constraint)
    {
        var plan = Assert.Single(Compile(Strategy("constrain " + constraint)).Plans);
        Assert.False(plan.Constraint!.Regular);
        Assert.True(Assert.Single(Compile(Strategy("constrain grammar(\"answer.gbnf\")")).Plans).Constraint!.Regular);
    }

    [Fact]
    public void PDEC1055_left_recursion_names_its_cycle_in_the_grammar_or_schema_file()
    {
        var d = Assert.Single(Diagnostics(Strategy("constrain grammar(\"sum.gbnf\")")));
        Assert.Equal(("PDEC1055", Dir + "sum.gbnf"), (d.Id, d.Location.Path));
        Assert.Contains("expr -> expr", d.Message);
        Assert.Contains("left-recursive", d.Message);
        Assert.Equal(Files[Dir + "sum.gbnf"].IndexOf("expr \"+\"", StringComparison.Ordinal), d.Span.Start);
        var schema = Assert.Single(Diagnostics(Strategy("constrain json(schema: \"loop.json\")")));
        Assert.Equal(("PDEC1055", Dir + "loop.json"), (schema.Id, schema.Location.Path));
        Assert.Contains("left-recursive", schema.Message);
    }

    [Fact]
    public void PDEC1055_a_recursive_grammar_is_refused_where_the_runtime_follows_only_regular_ones()
    {
        var grammar = PrimitiveLibrary.Default.Find(PrimitiveRole.Constraint, "grammar")!;
        var library = PrimitiveLibrary.Default.With(grammar with { ContextFree = false });
        var d = Assert.Single(Compile(Strategy("constrain grammar(\"list.gbnf\")"), library).Diagnostics);
        Assert.Equal(("PDEC1055", Dir + "list.gbnf"), (d.Id, d.Location.Path));
        Assert.Contains("item -> item", d.Message);
        Assert.Equal(Files[Dir + "list.gbnf"].IndexOf("item?", StringComparison.Ordinal), d.Span.Start);
    }

    [Fact]
    public void PDEC1029_a_constraint_on_a_batched_canvas_is_refused()
    {
        Verify(Strategy("constrain {|PDEC1029:runtime|}", canvas: "causal(batch: 4)"));
    }

    [Fact]
    public void PDEC1008_lossless_under_a_constraint_still_refuses_lossy_acceptance()
    {
        Verify(Strategy("constrain regex(\"[a-z]+\")", accept: "{|PDEC1008:typical(eps: 0.1, delta: 0.2)|}"));
    }

    [Theory]
    [InlineData("strategies/x.pdec", "a.json", "strategies/a.json")]
    [InlineData("/r/strategies/x.pdec", "../schemas/a.json", "/r/schemas/a.json")]
    [InlineData("/r/x.pdec", "./a/./b.json", "/r/a/b.json")]
    [InlineData("x.pdec", "/abs/a.json", "/abs/a.json")]
    [InlineData("C:\\r\\x.pdec", "a.json", "C:\\r\\a.json")]
    public void A_file_path_resolves_against_the_pdec_directory(string from, string relative, string expected)
    {
        Assert.Equal(expected, Binder.ResolvePath(from, relative));
    }

    [Fact]
    public void Every_prefix_of_a_constrained_strategy_compiles_without_throwing()
    {
        string text = Strategy("constrain json(schema: \"person.json\")", propose: "forced(length: 4) + draft(draft, length: 4)");
        for (int i = 0; i <= text.Length; i++) Compile(text.Substring(0, i));
    }
}
