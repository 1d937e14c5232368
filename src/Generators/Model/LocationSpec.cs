using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Pardec.Generators.Model;

/// <summary>
/// A source location as plain values. Roslyn's <see cref="Location"/> holds its <see cref="SyntaxTree"/>, which would
/// make every pipeline value unequal across compilations; this record keeps only what a diagnostic needs.
/// </summary>
public sealed record LocationSpec(string Path, int Start, int Length, int StartLine, int StartCharacter, int EndLine, int EndCharacter)
{
    public static LocationSpec From(Location location)
    {
        var lines = location.GetLineSpan();
        return new LocationSpec(lines.Path, location.SourceSpan.Start, location.SourceSpan.Length,
            lines.StartLinePosition.Line, lines.StartLinePosition.Character, lines.EndLinePosition.Line, lines.EndLinePosition.Character);
    }

    public Location ToLocation() => Location.Create(Path, new TextSpan(Start, Length),
        new LinePositionSpan(new LinePosition(StartLine, StartCharacter), new LinePosition(EndLine, EndCharacter)));
}
