using System.Collections.Generic;

namespace Pardec.Dsl.Syntax;

/// <summary>A line inside <c>step</c>.</summary>
public abstract class StatementSyntax : SyntaxNode
{
    protected StatementSyntax(SyntaxToken keyword) => Keyword = keyword;

    public SyntaxToken Keyword { get; }
}

/// <summary><c>propose p1 + p2</c>: the proposals are merged into one token tree.</summary>
public sealed class ProposeSyntax : StatementSyntax
{
    public ProposeSyntax(SyntaxToken keyword, SeparatedSyntaxList<ExpressionSyntax> proposers)
        : base(keyword) => Proposers = proposers;

    public override SyntaxKind Kind => SyntaxKind.ProposeStatement;

    public SeparatedSyntaxList<ExpressionSyntax> Proposers { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Proposers.NodesAndSeparators);
}

/// <summary><c>verify target [chain | tree | tree(max_width: n)]</c>.</summary>
public sealed class VerifySyntax : StatementSyntax
{
    public VerifySyntax(SyntaxToken keyword, SyntaxToken target, ExpressionSyntax? mode)
        : base(keyword)
    {
        Target = target;
        Mode = mode;
    }

    public override SyntaxKind Kind => SyntaxKind.VerifyStatement;

    public SyntaxToken Target { get; }

    public ExpressionSyntax? Mode { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Target, Mode);
}

/// <summary><c>accept greedy | rejection | typical(eps: e, delta: d)</c>.</summary>
public sealed class AcceptSyntax : StatementSyntax
{
    public AcceptSyntax(SyntaxToken keyword, ExpressionSyntax rule)
        : base(keyword) => Rule = rule;

    public override SyntaxKind Kind => SyntaxKind.AcceptStatement;

    public ExpressionSyntax Rule { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Rule);
}

/// <summary><c>update state from source</c>.</summary>
public sealed class UpdateSyntax : StatementSyntax
{
    public UpdateSyntax(SyntaxToken keyword, SyntaxToken state, SyntaxToken fromKeyword, SyntaxToken source)
        : base(keyword)
    {
        State = state;
        FromKeyword = fromKeyword;
        Source = source;
    }

    public override SyntaxKind Kind => SyntaxKind.UpdateStatement;

    public SyntaxToken State { get; }

    public SyntaxToken FromKeyword { get; }

    public SyntaxToken Source { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, State, FromKeyword, Source);
}

/// <summary><c>predict model</c>: one forward of a masked model over the current block.</summary>
public sealed class PredictSyntax : StatementSyntax
{
    public PredictSyntax(SyntaxToken keyword, SyntaxToken model)
        : base(keyword) => Model = model;

    public override SyntaxKind Kind => SyntaxKind.PredictStatement;

    public SyntaxToken Model { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Model);
}

/// <summary>
/// <c>commit rule [operand] [, at least n]</c>: <c>commit one</c>, <c>commit top k</c>,
/// <c>commit confidence &gt;= t, at least 1</c>, <c>commit factor(f)</c>, <c>commit draft_verify</c> …
/// </summary>
public sealed class CommitSyntax : StatementSyntax
{
    public CommitSyntax(
        SyntaxToken keyword,
        ExpressionSyntax rule,
        ExpressionSyntax? operand,
        SyntaxToken? commaToken,
        SyntaxToken? atKeyword,
        SyntaxToken? leastKeyword,
        ExpressionSyntax? atLeast)
        : base(keyword)
    {
        Rule = rule;
        Operand = operand;
        CommaToken = commaToken;
        AtKeyword = atKeyword;
        LeastKeyword = leastKeyword;
        AtLeast = atLeast;
    }

    public override SyntaxKind Kind => SyntaxKind.CommitStatement;

    public ExpressionSyntax Rule { get; }

    public ExpressionSyntax? Operand { get; }

    public SyntaxToken? CommaToken { get; }

    public SyntaxToken? AtKeyword { get; }

    public SyntaxToken? LeastKeyword { get; }

    public ExpressionSyntax? AtLeast { get; }

    public override IEnumerable<SyntaxNode> GetChildren() =>
        Children(Keyword, Rule, Operand, CommaToken, AtKeyword, LeastKeyword, AtLeast);
}

/// <summary><c>block adaptive(min: a, max: b, delimiter: p)</c>.</summary>
public sealed class BlockSyntax : StatementSyntax
{
    public BlockSyntax(SyntaxToken keyword, ExpressionSyntax rule)
        : base(keyword) => Rule = rule;

    public override SyntaxKind Kind => SyntaxKind.BlockStatement;

    public ExpressionSyntax Rule { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Rule);
}
