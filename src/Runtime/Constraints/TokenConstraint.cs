using System.Runtime.CompilerServices;
using Fare;

namespace Pardec.Runtime.Constraints;

/// <summary>
/// A constraint on the text a decode produces, independent of any tokenizer: a regex, a JSON Schema or a regular GBNF
/// grammar compiled once to a minimal byte DFA, or a recursive GBNF grammar compiled to a pushdown automaton.
/// <see cref="For"/> lifts it to a tokenizer's vocabulary (a <see cref="TokenMatcher"/>, cached per vocabulary), which
/// is what a decode follows, the same way for both.
/// </summary>
public sealed class TokenConstraint
{
    private readonly ConditionalWeakTable<TokenVocabulary, TokenMatcher> _matchers = new();

    private readonly ByteDfa? _dfa;

    private TokenConstraint(ByteDfa dfa, string description, string? regex)
    {
        _dfa = dfa;
        Description = description;
        Regex = regex;
    }

    private TokenConstraint(PushdownAutomaton pushdown, string description)
    {
        Pushdown = pushdown;
        Description = description;
    }

    /// <summary>Whether the constraint is regular (it has a <see cref="Dfa"/>); false for a recursive grammar.</summary>
    public bool IsRegular => _dfa is not null;

    /// <summary>The regular constraint's minimal DFA; a recursive grammar has none (<see cref="Pushdown"/>).</summary>
    public ByteDfa Dfa => _dfa ?? throw new InvalidOperationException($"{Description} is recursive: it has a pushdown automaton (Pushdown), not a DFA.");

    /// <summary>A recursive grammar's automaton; null for a regular constraint.</summary>
    public PushdownAutomaton? Pushdown { get; }

    /// <summary>Whether the whole of <paramref name="text"/> (as UTF-8) matches.</summary>
    public bool Matches(string text) => _dfa is { } dfa ? dfa.Matches(text) : Pushdown!.Matches(text);
    public string Description { get; }
    /// <summary>The regex the constraint was compiled from (a JSON Schema's lowering included), when there is one.</summary>
    public string? Regex { get; }

    /// <summary>The output must match <paramref name="pattern"/> in full (<see cref="RegexCompiler"/> lists the syntax).</summary>
    public static TokenConstraint FromRegex(string pattern) =>
        new(ByteDfa.From(RegexCompiler.Compile(pattern)), $"regex \"{pattern}\"", pattern);

    /// <summary>
    /// The output must be JSON valid under <paramref name="schemaJson"/> (<see cref="JsonSchemaRegex"/> lists the subset).
    /// A schema whose local references recurse (a tree of nodes) becomes a pushdown grammar: one rule per recursive
    /// reference target, each lowered like any schema, the recursion as calls.
    /// </summary>
    public static TokenConstraint FromJsonSchema(string schemaJson, string? file = null, JsonSchemaRegexOptions? options = null)
    {
        string description = file is null ? "JSON Schema" : $"JSON Schema {Path.GetFileName(file)}";
        var rules = JsonSchemaRegex.Rules(schemaJson, file, options);
        if (rules.Count == 1) return new(ByteDfa.From(RegexCompiler.Compile(rules[0].Regex)), description, rules[0].Regex);
        var callBytes = new int[256];
        Array.Fill(callBytes, -1);
        for (int k = 0; k + 1 < rules.Count; k++) callBytes[Pardec.Dsl.Constraints.JsonSchemaLowering.RecursionMarks[k]] = k + 1;
        var bodies = rules.Select(r => new PushdownAutomaton.Rule(r.Target, r.Position, RegexCompiler.Compile(r.Regex))).ToList();
        var pushdown = PushdownAutomaton.Build(bodies, 0, (at, reason) => new ConstraintSyntaxException(ConstraintLanguage.JsonSchema, schemaJson, at, reason, file), callBytes);
        return new(pushdown, description + " (recursive)");
    }

    /// <summary>Any JSON value (OpenAI's <c>json_object</c>), nested at most <paramref name="depth"/> levels: a regular
    /// approximation of JSON, which is not regular.</summary>
    public static TokenConstraint AnyJson(int depth = 3, JsonSchemaRegexOptions? options = null)
    {
        string regex = JsonSchemaRegex.AnyValue(depth, options ?? new JsonSchemaRegexOptions(), objectOnly: true);
        return new(ByteDfa.From(RegexCompiler.Compile(regex)), "any JSON object", regex);
    }

    /// <summary>
    /// The output must derive from <paramref name="grammar"/>'s <c>root</c> rule (GBNF, <see cref="GbnfGrammar"/>): a
    /// regular grammar becomes a DFA, a recursive one a pushdown automaton.
    /// </summary>
    public static TokenConstraint FromGbnf(string grammar, string? file = null)
    {
        var lowering = GbnfGrammar.Lower(grammar, file);
        string description = file is null ? "GBNF grammar" : $"GBNF {Path.GetFileName(file)}";
        return lowering.Regular is { } regular ? new(ByteDfa.From(regular), description, null) : new(lowering.Pushdown!, description);
    }

    /// <summary>From a Fare automaton over bytes built by the caller.</summary>
    public static TokenConstraint FromAutomaton(Automaton bytes, string description) => new(ByteDfa.From(bytes), description, null);

    /// <summary>The constraint over <paramref name="vocabulary"/>'s tokens (built once per vocabulary, masks filled as states are reached).</summary>
    public TokenMatcher For(TokenVocabulary vocabulary) =>
        _matchers.GetValue(vocabulary, v => _dfa is { } dfa ? new TokenMatcher(dfa, v, Description) : new TokenMatcher(Pushdown!, v, Description));
}
