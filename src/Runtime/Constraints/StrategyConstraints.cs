using Pardec.Runtime.Decoding;

namespace Pardec.Runtime.Constraints;

/// <summary>
/// A strategy's <c>constrain</c> statement at run time: it sets the constraint each request decodes under before the
/// decode starts (<see cref="GenerationOptions.Constraint"/>), which the session then applies to verification and to
/// drafts. Built once per decoder, like every primitive; nothing here runs per step.
/// </summary>
public interface IStrategyConstraint
{
    /// <summary>The options a request decodes with under this constraint.</summary>
    GenerationOptions Apply(GenerationOptions options);
}

/// <summary>
/// A constraint the strategy declares (<c>regex</c>, <c>json</c>, <c>grammar</c>), compiled and lifted to the tokenizer's
/// vocabulary once, when the decoder is built. A request that brings a constraint of its own is refused: the strategy
/// fixes what the output matches (declare <c>constrain runtime</c> to take each request's).
/// </summary>
public abstract class DeclaredConstraint : IStrategyConstraint
{
    protected DeclaredConstraint(TokenConstraint constraint, TokenVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        Constraint = constraint;
        Matcher = constraint.For(vocabulary);
    }

    public TokenConstraint Constraint { get; }

    /// <summary>The constraint over the vocabulary's tokens; masks fill in as decodes reach states, and are kept.</summary>
    public TokenMatcher Matcher { get; }

    public GenerationOptions Apply(GenerationOptions options)
    {
        if (options.Constraint is null) return options with { Constraint = Matcher };
        if (ReferenceEquals(options.Constraint, Matcher)) return options;
        throw new ArgumentException($"The strategy declares 'constrain' ({Matcher.Description}), so a request cannot bring its own constraint " +
                                    $"({options.Constraint.Description}); leave GenerationOptions.Constraint null, or use a strategy that declares 'constrain runtime'.",
                                    nameof(options));
    }
}

/// <summary><c>constrain regex("…")</c>: the output matches the pattern in full.</summary>
public sealed class RegexConstraint(string pattern, TokenVocabulary vocabulary)
    : DeclaredConstraint(TokenConstraint.FromRegex(pattern), vocabulary);

/// <summary><c>constrain json(schema: "file.json")</c>: JSON valid under the schema (its text was read when the strategy was compiled).</summary>
/// <param name="file">The schema's path as the strategy wrote it (for descriptions and errors).</param>
/// <param name="depth">How deep an unconstrained value of the schema may nest.</param>
public sealed class JsonSchemaConstraint(string schema, string file, int depth, TokenVocabulary vocabulary)
    : DeclaredConstraint(TokenConstraint.FromJsonSchema(schema, file, new JsonSchemaRegexOptions { AnyValueDepth = depth }), vocabulary);

/// <summary><c>constrain json</c>: any JSON value nested at most <paramref name="depth"/> levels (JSON is not regular).</summary>
public sealed class AnyJsonConstraint(int depth, TokenVocabulary vocabulary)
    : DeclaredConstraint(TokenConstraint.FromAutomaton(RegexCompiler.Compile(JsonSchemaRegex.AnyValue(depth, new JsonSchemaRegexOptions())), "any JSON value"), vocabulary);

/// <summary><c>constrain grammar("file.gbnf")</c>: the output derives from the grammar's root rule.</summary>
public sealed class GbnfConstraint(string grammar, string file, TokenVocabulary vocabulary)
    : DeclaredConstraint(TokenConstraint.FromGbnf(grammar, file), vocabulary);

/// <summary>
/// <c>constrain runtime</c>: each request brings its constraint (<see cref="GenerationOptions.Constraint"/>,
/// <c>ChatOptions.ResponseFormat</c>, OpenAI's <c>response_format</c>), or none. The options pass through unchanged:
/// what the statement adds is the build-time checks (a <c>forced</c> proposer is allowed; sampled drafts must be masked).
/// </summary>
public sealed class RequestConstraint : IStrategyConstraint
{
    public GenerationOptions Apply(GenerationOptions options) => options;
}
