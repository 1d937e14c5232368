using System;
using System.Collections.Generic;
using Pardec.Dsl.Collections;
using Pardec.Dsl.Text;

namespace Pardec.Dsl.Syntax;

public sealed record SyntaxTrivia(SyntaxKind Kind, int Position, string Text)
{
    public TextSpan Span => new(Position, Text.Length);
}

/// <summary>
/// A token. A missing token (<see cref="IsMissing"/>) is fabricated by the parser with zero width
/// where a required token was not found, so the tree always has the shape of the grammar.
/// </summary>
public sealed class SyntaxToken : SyntaxNode
{
    public SyntaxToken(
        SyntaxKind kind,
        int position,
        string text,
        object? value = null,
        EquatableArray<SyntaxTrivia> leadingTrivia = default,
        EquatableArray<SyntaxTrivia> trailingTrivia = default,
        bool isMissing = false)
    {
        Kind = kind;
        Position = position;
        Text = text;
        Value = value;
        LeadingTrivia = leadingTrivia;
        TrailingTrivia = trailingTrivia;
        IsMissing = isMissing;
    }

    public override SyntaxKind Kind { get; }

    public int Position { get; }

    public string Text { get; }

    /// <summary>The parsed value: <see cref="double"/> for numbers, <see cref="string"/> for strings.</summary>
    public object? Value { get; }

    public EquatableArray<SyntaxTrivia> LeadingTrivia { get; }

    public EquatableArray<SyntaxTrivia> TrailingTrivia { get; }

    public bool IsMissing { get; }

    public override TextSpan Span => new(Position, Text.Length);

    public override IEnumerable<SyntaxNode> GetChildren() => Array.Empty<SyntaxNode>();

    public static SyntaxToken Missing(SyntaxKind kind, int position) => new(kind, position, string.Empty, isMissing: true);

    public override string ToString() => Text;
}
