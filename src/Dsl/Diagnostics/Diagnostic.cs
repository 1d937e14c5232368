using System.Globalization;
using Pardec.Dsl.Text;

namespace Pardec.Dsl.Diagnostics;

public enum DiagnosticSeverity
{
    Info,
    Warning,
    Error,
}

/// <summary>
/// One entry of the catalog: a stable id that is never reused, a title, a message format
/// (<see cref="string.Format(IFormatProvider, string, object[])"/> placeholders) and a severity.
/// The generator maps each one to a Roslyn <c>DiagnosticDescriptor</c>.
/// </summary>
public sealed record DiagnosticDescriptor(string Id, string Title, string MessageFormat, DiagnosticSeverity Severity)
{
    public string Category => "Pardec.Dsl";
}

/// <summary>Where a diagnostic points: file path, span, and the line/column of both ends.</summary>
public readonly record struct Location(string Path, TextSpan Span, LinePosition Start, LinePosition End)
{
    public static Location Create(SourceText text, TextSpan span) =>
        new(text.Path, span, text.GetLinePosition(span.Start), text.GetLinePosition(span.End));

    public override string ToString() => $"{Path}({Start})";
}

public sealed record Diagnostic(DiagnosticDescriptor Descriptor, Location Location, string Message)
{
    public string Id => Descriptor.Id;

    public DiagnosticSeverity Severity => Descriptor.Severity;

    public TextSpan Span => Location.Span;

    public static Diagnostic Create(DiagnosticDescriptor descriptor, SourceText text, TextSpan span, params object[] args) =>
        new(descriptor, Location.Create(text, span), string.Format(CultureInfo.InvariantCulture, descriptor.MessageFormat, args));

    public override string ToString() =>
        $"{Location}: {Severity.ToString().ToLowerInvariant()} {Id}: {Message}";
}
