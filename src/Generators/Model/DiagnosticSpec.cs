using System.Globalization;
using Microsoft.CodeAnalysis;

namespace Pardec.Generators.Model;

/// <summary>
/// A diagnostic as plain values, formatted when it is created. Roslyn's <see cref="Diagnostic"/> compares by reference,
/// so carrying one through the pipeline would defeat caching.
/// </summary>
public sealed record DiagnosticSpec(string Id, string Title, DiagnosticSeverity Severity, string Message, LocationSpec Location)
{
    public static DiagnosticSpec Create(DiagnosticDescriptor descriptor, LocationSpec location, params object[] args) =>
        new(descriptor.Id, descriptor.Title.ToString(CultureInfo.InvariantCulture), descriptor.DefaultSeverity,
            string.Format(CultureInfo.InvariantCulture, descriptor.MessageFormat.ToString(CultureInfo.InvariantCulture), args), location);

    public Diagnostic ToRoslyn()
    {
        var descriptor = new DiagnosticDescriptor(Id, Title, "{0}", Id.StartsWith("PDEC2", System.StringComparison.Ordinal) ? GeneratorDiagnostics.Category : "Pardec",
            Severity, isEnabledByDefault: true);
        return Diagnostic.Create(descriptor, Location.ToLocation(), Message);
    }
}
