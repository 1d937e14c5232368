using System.Runtime.CompilerServices;
using Fare;

namespace Pardec.Runtime.Constraints;

/// <summary>
/// A constraint on the text a decode produces, independent of any tokenizer: a regex, a JSON Schema or a GBNF grammar
/// compiled once to a minimal byte DFA. <see cref="For"/> lifts it to a tokenizer's vocabulary (a
/// <see cref="TokenMatcher"/>, cached per vocabulary), which is what a decode follows.
/// </summary>
public sealed class TokenConstraint
{
    private readonly ConditionalWeakTable<TokenVocabulary, TokenMatcher> _matchers = new();

    private TokenConstraint(ByteDfa dfa, string description, string? regex)
    {
        Dfa = dfa;
        Description = description;
        Regex = regex;
    }

    public ByteDfa Dfa { get; }
    public string Description { get; }
    /// <summary>The regex the constraint was compiled from (a JSON Schema's lowering included), when there is one.</summary>
    public string? Regex { get; }

    /// <summary>The output must match <paramref name="pattern"/> in full (<see cref="RegexCompiler"/> lists the syntax).</summary>
    public static TokenConstraint FromRegex(string pattern) =>
        new(ByteDfa.From(RegexCompiler.Compile(pattern)), $"regex \"{pattern}\"", pattern);

    /// <summary>The output must be JSON valid under <paramref name="schemaJson"/> (<see cref="JsonSchemaRegex"/> lists the subset).</summary>
    public static TokenConstraint FromJsonSchema(string schemaJson, string? file = null, JsonSchemaRegexOptions? options = null)
    {
        string regex = JsonSchemaRegex.FromSchema(schemaJson, file, options);
        return new(ByteDfa.From(RegexCompiler.Compile(regex)), file is null ? "JSON Schema" : $"JSON Schema {Path.GetFileName(file)}", regex);
    }

    /// <summary>Any JSON value (OpenAI's <c>json_object</c>), nested at most <paramref name="depth"/> levels: a regular
    /// approximation of JSON, which is not regular.</summary>
    public static TokenConstraint AnyJson(int depth = 3, JsonSchemaRegexOptions? options = null)
    {
        string regex = JsonSchemaRegex.AnyValue(depth, options ?? new JsonSchemaRegexOptions(), objectOnly: true);
        return new(ByteDfa.From(RegexCompiler.Compile(regex)), "any JSON object", regex);
    }

    /// <summary>The output must derive from <paramref name="grammar"/>'s <c>root</c> rule (GBNF, regular subset: <see cref="GbnfGrammar"/>).</summary>
    public static TokenConstraint FromGbnf(string grammar, string? file = null) =>
        new(ByteDfa.From(GbnfGrammar.Compile(grammar, file)), file is null ? "GBNF grammar" : $"GBNF {Path.GetFileName(file)}", null);

    /// <summary>From a Fare automaton over bytes built by the caller.</summary>
    public static TokenConstraint FromAutomaton(Automaton bytes, string description) => new(ByteDfa.From(bytes), description, null);

    /// <summary>The constraint over <paramref name="vocabulary"/>'s tokens (built once per vocabulary, masks filled as states are reached).</summary>
    public TokenMatcher For(TokenVocabulary vocabulary) => _matchers.GetValue(vocabulary, v => new TokenMatcher(Dfa, v, Description));
}
