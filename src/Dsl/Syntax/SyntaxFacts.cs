using System.Collections.Generic;
using System.Linq;

namespace Pardec.Dsl.Syntax;

/// <summary>Keywords. They are contextual: a model may be called <c>model</c>, a state <c>pool</c>.</summary>
public static class SyntaxFacts
{
    public static IReadOnlyList<string> MemberKeywords { get; } =
        new[] { "paper", "guarantee", "canvas", "cache", "model", "param", "state", "step", "stop", "constrain" };

    public static IReadOnlyList<string> StatementKeywords { get; } =
        new[] { "propose", "verify", "accept", "update", "predict", "commit", "block" };

    /// <summary>Words that may start a line; the lexer uses them to end a run-away bracket.</summary>
    public static bool StartsLine(string word) =>
        word is "strategy" or "end" || MemberKeywords.Contains(word) || StatementKeywords.Contains(word);

    public static string GetText(SyntaxKind kind) => kind switch
    {
        SyntaxKind.ColonToken => ":",
        SyntaxKind.CommaToken => ",",
        SyntaxKind.EqualsToken => "=",
        SyntaxKind.PlusToken => "+",
        SyntaxKind.MinusToken => "-",
        SyntaxKind.DotToken => ".",
        SyntaxKind.DotDotToken => "..",
        SyntaxKind.GreaterEqualsToken => ">=",
        SyntaxKind.OpenParenToken => "(",
        SyntaxKind.CloseParenToken => ")",
        SyntaxKind.OpenBracketToken => "[",
        SyntaxKind.CloseBracketToken => "]",
        _ => string.Empty,
    };

    /// <summary>How a token is named in messages: <c>'x'</c>, or a description for end of line/file.</summary>
    public static string Describe(SyntaxToken token) => token.Kind switch
    {
        SyntaxKind.EndOfFileToken => "the end of the file",
        SyntaxKind.NewLineToken => "the end of the line",
        _ => $"'{token.Text}'",
    };
}
