using System;

namespace Pardec.Dsl.Text;

/// <summary>A half-open range of characters [Start, End) in a <see cref="SourceText"/>.</summary>
public readonly record struct TextSpan(int Start, int Length)
{
    public int End => Start + Length;

    public static TextSpan FromBounds(int start, int end) => new(start, Math.Max(0, end - start));

    public bool Contains(TextSpan other) => other.Start >= Start && other.End <= End;

    public override string ToString() => $"[{Start}..{End})";
}

/// <summary>Zero-based line and character (column) of a position.</summary>
public readonly record struct LinePosition(int Line, int Character)
{
    public override string ToString() => $"{Line + 1},{Character + 1}";
}
