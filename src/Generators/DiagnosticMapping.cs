using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using DslDiagnostic = Pardec.Dsl.Diagnostics.Diagnostic;
using DslSeverity = Pardec.Dsl.Diagnostics.DiagnosticSeverity;

namespace Pardec.Generators;

/// <summary>Front-end diagnostics reported through Roslyn, at their exact span in the .pdec file.</summary>
internal static class DiagnosticMapping
{
    /// <summary>PDEC3101: a strategy the emitter cannot specialise runs on the plan interpreter instead.</summary>
    public static readonly DiagnosticDescriptor InterpreterFallback = new(
        "PDEC3101", "Strategy runs on the plan interpreter",
        "Strategy '{0}' is not specialised and runs on the plan interpreter: {1}",
        "Pardec.Generator", DiagnosticSeverity.Info, isEnabledByDefault: true);

    public static Diagnostic ToRoslyn(DslDiagnostic diagnostic)
    {
        var d = diagnostic.Descriptor;
        var descriptor = new DiagnosticDescriptor(d.Id, d.Title, "{0}", d.Category, Severity(d.Severity), isEnabledByDefault: true);
        var loc = diagnostic.Location;
        var location = Location.Create(loc.Path, new TextSpan(loc.Span.Start, loc.Span.Length),
            new LinePositionSpan(new LinePosition(loc.Start.Line, loc.Start.Character), new LinePosition(loc.End.Line, loc.End.Character)));
        return Diagnostic.Create(descriptor, location, diagnostic.Message);
    }

    private static DiagnosticSeverity Severity(DslSeverity severity) => severity switch
    {
        DslSeverity.Error => DiagnosticSeverity.Error,
        DslSeverity.Warning => DiagnosticSeverity.Warning,
        DslSeverity.Info => DiagnosticSeverity.Info,
        _ => DiagnosticSeverity.Hidden,
    };
}
