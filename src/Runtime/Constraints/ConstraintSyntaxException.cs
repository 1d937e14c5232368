namespace Pardec.Runtime.Constraints;

/// <summary>What kind of text a constraint was written in.</summary>
public enum ConstraintLanguage { Regex, JsonSchema, Gbnf }

/// <summary>
/// A regex, JSON Schema or GBNF grammar that cannot be compiled: where (a 0-based character offset into the source, and
/// the 1-based line and column it falls on) and why. Also thrown for constructs the compiler does not support, with the
/// same position, so a user sees which part of their pattern to change.
/// </summary>
public sealed class ConstraintSyntaxException : FormatException
{
    public ConstraintSyntaxException(ConstraintLanguage language, string source, int position, string reason, string? file = null)
        : base(Format(language, source, position, reason, file))
    {
        Language = language;
        Position = position;
        Reason = reason;
        File = file;
        (Line, Column) = LineAndColumn(source, position);
    }

    public ConstraintLanguage Language { get; }
    /// <summary>0-based offset into the pattern, schema text or grammar text.</summary>
    public int Position { get; }
    /// <summary>1-based line of <see cref="Position"/>.</summary>
    public int Line { get; }
    /// <summary>1-based column of <see cref="Position"/>.</summary>
    public int Column { get; }
    /// <summary>The message without its position prefix.</summary>
    public string Reason { get; }
    /// <summary>The file the source came from, when it came from one.</summary>
    public string? File { get; }

    public static (int Line, int Column) LineAndColumn(string source, int position)
    {
        int line = 1, column = 1;
        for (int i = 0; i < Math.Min(position, source.Length); i++)
        {
            if (source[i] == '\n') { line++; column = 1; }
            else column++;
        }
        return (line, column);
    }

    private static string Format(ConstraintLanguage language, string source, int position, string reason, string? file)
    {
        var (line, column) = LineAndColumn(source, position);
        string what = language switch { ConstraintLanguage.Regex => "regex", ConstraintLanguage.JsonSchema => "JSON Schema", _ => "GBNF grammar" };
        return file is null ? $"{what}, line {line}, column {column}: {reason}" : $"{file}({line},{column}): {what}: {reason}";
    }
}
