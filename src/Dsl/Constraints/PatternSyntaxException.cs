using System;

namespace Pardec.Dsl.Constraints;

/// <summary>What kind of text a constraint is written in.</summary>
public enum PatternLanguage
{
    Regex,
    JsonSchema,
    Gbnf,
}

/// <summary>
/// A regex, JSON Schema or GBNF grammar the front end's parsers refuse: the 0-based character offset into the pattern,
/// schema or grammar text, and why. The binder turns it into a PDEC diagnostic at that position (inside the .pdec string
/// literal, or in the schema or grammar file); the runtime into a <c>ConstraintSyntaxException</c>. One parser serves
/// both, so what <c>pardec check</c> accepts is what the runtime compiles.
/// </summary>
public sealed class PatternSyntaxException : Exception
{
    public PatternSyntaxException(PatternLanguage language, int position, string reason)
        : base(reason)
    {
        Language = language;
        Position = position;
        Reason = reason;
    }

    public PatternLanguage Language { get; }

    /// <summary>0-based offset into the pattern, schema text or grammar text.</summary>
    public int Position { get; }

    public string Reason { get; }
}
