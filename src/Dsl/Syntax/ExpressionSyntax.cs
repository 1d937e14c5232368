using System.Collections.Generic;

namespace Pardec.Dsl.Syntax;

public abstract class ExpressionSyntax : SyntaxNode
{
}

/// <summary>A number or string literal.</summary>
public sealed class LiteralExpressionSyntax : ExpressionSyntax
{
    public LiteralExpressionSyntax(SyntaxToken token) => Token = token;

    public override SyntaxKind Kind => SyntaxKind.LiteralExpression;

    public SyntaxToken Token { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Token);
}

/// <summary>A bare name: a param, model role, state, flag, keyword value or <c>true</c>/<c>false</c>.</summary>
public sealed class NameExpressionSyntax : ExpressionSyntax
{
    public NameExpressionSyntax(SyntaxToken identifier) => Identifier = identifier;

    public override SyntaxKind Kind => SyntaxKind.NameExpression;

    public SyntaxToken Identifier { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Identifier);
}

/// <summary><c>name(args)</c> or <c>receiver.name(args)</c> (the argument list is optional after a receiver).</summary>
public sealed class CallExpressionSyntax : ExpressionSyntax
{
    public CallExpressionSyntax(SyntaxToken? receiver, SyntaxToken? dotToken, SyntaxToken identifier, ArgumentListSyntax? arguments)
    {
        Receiver = receiver;
        DotToken = dotToken;
        Identifier = identifier;
        Arguments = arguments;
    }

    public override SyntaxKind Kind => Receiver is null ? SyntaxKind.CallExpression : SyntaxKind.MemberCallExpression;

    public SyntaxToken? Receiver { get; }

    public SyntaxToken? DotToken { get; }

    public SyntaxToken Identifier { get; }

    public ArgumentListSyntax? Arguments { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Receiver, DotToken, Identifier, Arguments);
}

public sealed class ArgumentListSyntax : SyntaxNode
{
    public ArgumentListSyntax(SyntaxToken openParen, SeparatedSyntaxList<ArgumentSyntax> arguments, SyntaxToken closeParen)
    {
        OpenParen = openParen;
        Arguments = arguments;
        CloseParen = closeParen;
    }

    public override SyntaxKind Kind => SyntaxKind.ArgumentList;

    public SyntaxToken OpenParen { get; }

    public SeparatedSyntaxList<ArgumentSyntax> Arguments { get; }

    public SyntaxToken CloseParen { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(OpenParen, Arguments.NodesAndSeparators, CloseParen);
}

/// <summary><c>[name:] value</c>.</summary>
public sealed class ArgumentSyntax : SyntaxNode
{
    public ArgumentSyntax(SyntaxToken? name, SyntaxToken? colon, ExpressionSyntax value)
    {
        Name = name;
        Colon = colon;
        Value = value;
    }

    public override SyntaxKind Kind => SyntaxKind.Argument;

    public SyntaxToken? Name { get; }

    public SyntaxToken? Colon { get; }

    public ExpressionSyntax Value { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Name, Colon, Value);
}

/// <summary><c>[e1, e2, …]</c>: token-tree choice lists are lists of lists of ints.</summary>
public sealed class ListExpressionSyntax : ExpressionSyntax
{
    public ListExpressionSyntax(SyntaxToken openBracket, SeparatedSyntaxList<ExpressionSyntax> elements, SyntaxToken closeBracket)
    {
        OpenBracket = openBracket;
        Elements = elements;
        CloseBracket = closeBracket;
    }

    public override SyntaxKind Kind => SyntaxKind.ListExpression;

    public SyntaxToken OpenBracket { get; }

    public SeparatedSyntaxList<ExpressionSyntax> Elements { get; }

    public SyntaxToken CloseBracket { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(OpenBracket, Elements.NodesAndSeparators, CloseBracket);
}

/// <summary><c>lo..hi</c> (both ends inclusive).</summary>
public sealed class RangeExpressionSyntax : ExpressionSyntax
{
    public RangeExpressionSyntax(ExpressionSyntax lower, SyntaxToken dotDot, ExpressionSyntax upper)
    {
        Lower = lower;
        DotDot = dotDot;
        Upper = upper;
    }

    public override SyntaxKind Kind => SyntaxKind.RangeExpression;

    public ExpressionSyntax Lower { get; }

    public SyntaxToken DotDot { get; }

    public ExpressionSyntax Upper { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Lower, DotDot, Upper);
}

/// <summary><c>left &gt;= right</c>, as in <c>confidence &gt;= threshold</c>.</summary>
public sealed class ComparisonExpressionSyntax : ExpressionSyntax
{
    public ComparisonExpressionSyntax(ExpressionSyntax left, SyntaxToken operatorToken, ExpressionSyntax right)
    {
        Left = left;
        OperatorToken = operatorToken;
        Right = right;
    }

    public override SyntaxKind Kind => SyntaxKind.ComparisonExpression;

    public ExpressionSyntax Left { get; }

    public SyntaxToken OperatorToken { get; }

    public ExpressionSyntax Right { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Left, OperatorToken, Right);
}

/// <summary><c>-number</c>.</summary>
public sealed class NegationExpressionSyntax : ExpressionSyntax
{
    public NegationExpressionSyntax(SyntaxToken minus, ExpressionSyntax operand)
    {
        Minus = minus;
        Operand = operand;
    }

    public override SyntaxKind Kind => SyntaxKind.NegationExpression;

    public SyntaxToken Minus { get; }

    public ExpressionSyntax Operand { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Minus, Operand);
}

/// <summary>
/// A param range: <c>lo..hi</c> (inclusive) or interval notation with explicit bounds,
/// <c>(0, 1]</c>, <c>[0, 1)</c>, <c>[1, 16]</c>.
/// </summary>
public sealed class ParamRangeSyntax : SyntaxNode
{
    public ParamRangeSyntax(SyntaxToken? open, ExpressionSyntax lower, SyntaxToken separator, ExpressionSyntax upper, SyntaxToken? close)
    {
        Open = open;
        Lower = lower;
        Separator = separator;
        Upper = upper;
        Close = close;
    }

    public override SyntaxKind Kind => SyntaxKind.ParamRange;

    public SyntaxToken? Open { get; }

    public ExpressionSyntax Lower { get; }

    public SyntaxToken Separator { get; }

    public ExpressionSyntax Upper { get; }

    public SyntaxToken? Close { get; }

    public bool LowerInclusive => Open is null || Open.Kind == SyntaxKind.OpenBracketToken;

    public bool UpperInclusive => Close is null || Close.Kind == SyntaxKind.CloseBracketToken;

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Open, Lower, Separator, Upper, Close);
}
