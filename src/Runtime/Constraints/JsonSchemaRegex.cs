using Pardec.Dsl.Constraints;

namespace Pardec.Runtime.Constraints;

/// <summary>How a JSON Schema is lowered.</summary>
public sealed record JsonSchemaRegexOptions
{
    /// <summary>Whitespace allowed between JSON tokens. Bounded by default, so a model cannot stall in whitespace
    /// (Outlines' unbounded <c>[\n\t ]*</c> lets it).</summary>
    public string Whitespace { get; init; } = "[ ]?";
    /// <summary>How deep values of an unconstrained schema (<c>{}</c>, an untyped array's items) may nest: JSON is not regular.</summary>
    public int AnyValueDepth { get; init; } = 2;

    internal JsonLoweringOptions Lowering => new(Whitespace, AnyValueDepth);
}

/// <summary>
/// Lowers a JSON Schema to a regex whose language is the JSON texts the schema accepts, as Outlines'
/// <c>build_regex_from_schema</c> does. The lowering and the subset it supports are <see cref="JsonSchemaLowering"/>'s
/// (src/Dsl, shared with the front end, so a schema file <c>pardec check</c> accepts is one this compiles); any keyword
/// outside the subset is a <see cref="ConstraintSyntaxException"/> at its position in the file, rather than a constraint
/// that silently admits outputs the schema rejects. JsonSchema.Net validates outputs in the tests.
/// </summary>
public static class JsonSchemaRegex
{
    public const string StringCharacter = JsonSchemaLowering.StringCharacter;
    public const string Integer = JsonSchemaLowering.Integer;
    public const string Number = JsonSchemaLowering.Number;
    public const string Boolean = JsonSchemaLowering.Boolean;
    public const string Null = JsonSchemaLowering.Null;

    public static string FromSchema(string schemaJson, string? file = null, JsonSchemaRegexOptions? options = null)
    {
        try
        {
            return JsonSchemaLowering.ToRegex(schemaJson, (options ?? new JsonSchemaRegexOptions()).Lowering);
        }
        catch (PatternSyntaxException e)
        {
            throw new ConstraintSyntaxException(ConstraintLanguage.JsonSchema, schemaJson, e.Position, e.Reason, file);
        }
    }

    /// <summary>
    /// The schema as the regexes of a context-free grammar (<see cref="JsonSchemaLowering.ToRecursiveRegexes"/>): one
    /// rule when it does not recurse, else one more per recursive reference target, calls written as
    /// <see cref="JsonSchemaLowering.RecursionMarks"/>.
    /// </summary>
    public static IReadOnlyList<(string Target, int Position, string Regex)> Rules(string schemaJson, string? file = null, JsonSchemaRegexOptions? options = null)
    {
        try
        {
            return JsonSchemaLowering.ToRecursiveRegexes(schemaJson, (options ?? new JsonSchemaRegexOptions()).Lowering);
        }
        catch (PatternSyntaxException e)
        {
            throw new ConstraintSyntaxException(ConstraintLanguage.JsonSchema, schemaJson, e.Position, e.Reason, file);
        }
    }

    /// <summary>Any JSON value nested at most <paramref name="depth"/> levels (an object only, when <paramref name="objectOnly"/>).</summary>
    public static string AnyValue(int depth, JsonSchemaRegexOptions options, bool objectOnly = false) =>
        JsonSchemaLowering.AnyValue(depth, options.Lowering, objectOnly);

    /// <summary>A literal string as a regex.</summary>
    public static string Escape(string text) => JsonSchemaLowering.Escape(text);
}
