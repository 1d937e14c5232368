using System.CommandLine;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Tokenization;

namespace Pardec.Cli.Commands;

/// <summary>
/// <c>--regex</c>, <c>--json-schema FILE</c>, <c>--grammar FILE</c>: what the generated text must match
/// (docs/constraints.md). At most one; a pattern, schema or grammar that does not compile is one <c>error:</c> line with
/// its file, line and column.
/// </summary>
internal sealed class ConstraintOptions
{
    public Option<string> Regex { get; } = new("--regex") { Description = "Constrain the output to match this regex in full (docs/constraints.md)" };
    public Option<string> JsonSchema { get; } = new("--json-schema") { Description = "Constrain the output to JSON valid under this JSON Schema file" };
    public Option<string> Grammar { get; } = new("--grammar") { Description = "Constrain the output to this GBNF grammar file (llama.cpp's format; recursive rules are matched by a pushdown automaton)" };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { Regex, JsonSchema, Grammar }) command.Options.Add(o);
    }

    /// <summary>The constraint asked for over <paramref name="tokenizer"/>'s vocabulary, or null.</summary>
    public TokenMatcher? Matcher(ParseResult parse, TextTokenizer tokenizer)
    {
        string? regex = parse.GetValue(Regex), schema = parse.GetValue(JsonSchema), grammar = parse.GetValue(Grammar);
        int given = (regex is null ? 0 : 1) + (schema is null ? 0 : 1) + (grammar is null ? 0 : 1);
        if (given == 0) return null;
        if (given > 1) throw new CliException("--regex, --json-schema and --grammar: give at most one");
        try
        {
            var constraint = regex is not null ? TokenConstraint.FromRegex(regex)
                : schema is not null ? TokenConstraint.FromJsonSchema(Read(schema, "--json-schema"), schema)
                : TokenConstraint.FromGbnf(Read(grammar!, "--grammar"), grammar);
            return constraint.For(TokenVocabulary.From(tokenizer));
        }
        catch (ConstraintSyntaxException e)
        {
            throw new CliException(regex is not null ? "--regex: " + e.Message : e.Message);
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message);
        }
        catch (NotSupportedException e)
        {
            throw new CliException(e.Message);
        }
    }

    private static string Read(string path, string option) =>
        File.Exists(path) ? File.ReadAllText(path) : throw new CliException($"{option}: file not found: {path}");
}
