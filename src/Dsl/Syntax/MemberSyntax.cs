using System.Collections.Generic;

namespace Pardec.Dsl.Syntax;

/// <summary>A line of a strategy, introduced by a keyword.</summary>
public abstract class MemberSyntax : SyntaxNode
{
    protected MemberSyntax(SyntaxToken keyword) => Keyword = keyword;

    public SyntaxToken Keyword { get; }
}

/// <summary><c>paper "Title"</c>.</summary>
public sealed class PaperSyntax : MemberSyntax
{
    public PaperSyntax(SyntaxToken keyword, SyntaxToken title)
        : base(keyword) => Title = title;

    public override SyntaxKind Kind => SyntaxKind.PaperMember;

    public SyntaxToken Title { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Title);
}

/// <summary><c>guarantee lossless | distribution | none</c>.</summary>
public sealed class GuaranteeSyntax : MemberSyntax
{
    public GuaranteeSyntax(SyntaxToken keyword, SyntaxToken value)
        : base(keyword) => Value = value;

    public override SyntaxKind Kind => SyntaxKind.GuaranteeMember;

    public SyntaxToken Value { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Value);
}

/// <summary><c>canvas causal</c>, <c>canvas causal(batch: 4)</c>, <c>canvas masked(block: 32)</c>.</summary>
public sealed class CanvasSyntax : MemberSyntax
{
    public CanvasSyntax(SyntaxToken keyword, ExpressionSyntax canvas)
        : base(keyword) => Canvas = canvas;

    public override SyntaxKind Kind => SyntaxKind.CanvasMember;

    public ExpressionSyntax Canvas { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Canvas);
}

/// <summary><c>cache prefix | dual | none</c> (masked canvases).</summary>
public sealed class CacheSyntax : MemberSyntax
{
    public CacheSyntax(SyntaxToken keyword, SyntaxToken mode)
        : base(keyword) => Mode = mode;

    public override SyntaxKind Kind => SyntaxKind.CacheMember;

    public SyntaxToken Mode { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Mode);
}

/// <summary><c>model role: kind</c>, e.g. <c>model heads: medusa(target, 4)</c>.</summary>
public sealed class ModelSyntax : MemberSyntax
{
    public ModelSyntax(SyntaxToken keyword, SyntaxToken role, SyntaxToken colon, ExpressionSyntax modelKind)
        : base(keyword)
    {
        Role = role;
        Colon = colon;
        ModelKind = modelKind;
    }

    public override SyntaxKind Kind => SyntaxKind.ModelMember;

    public SyntaxToken Role { get; }

    public SyntaxToken Colon { get; }

    public ExpressionSyntax ModelKind { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Role, Colon, ModelKind);
}

/// <summary><c>param name: type [= default] [in range] [runtime]</c>.</summary>
public sealed class ParamSyntax : MemberSyntax
{
    public ParamSyntax(
        SyntaxToken keyword,
        SyntaxToken identifier,
        SyntaxToken colon,
        SyntaxToken type,
        SyntaxToken? equalsToken,
        ExpressionSyntax? defaultValue,
        SyntaxToken? inKeyword,
        ParamRangeSyntax? range,
        SyntaxToken? runtimeKeyword)
        : base(keyword)
    {
        Identifier = identifier;
        Colon = colon;
        Type = type;
        EqualsToken = equalsToken;
        DefaultValue = defaultValue;
        InKeyword = inKeyword;
        Range = range;
        RuntimeKeyword = runtimeKeyword;
    }

    public override SyntaxKind Kind => SyntaxKind.ParamMember;

    public SyntaxToken Identifier { get; }

    public SyntaxToken Colon { get; }

    public SyntaxToken Type { get; }

    public SyntaxToken? EqualsToken { get; }

    public ExpressionSyntax? DefaultValue { get; }

    public SyntaxToken? InKeyword { get; }

    public ParamRangeSyntax? Range { get; }

    public SyntaxToken? RuntimeKeyword { get; }

    public override IEnumerable<SyntaxNode> GetChildren() =>
        Children(Keyword, Identifier, Colon, Type, EqualsToken, DefaultValue, InKeyword, Range, RuntimeKeyword);
}

/// <summary><c>state name = kind(args)</c>.</summary>
public sealed class StateSyntax : MemberSyntax
{
    public StateSyntax(SyntaxToken keyword, SyntaxToken identifier, SyntaxToken equalsToken, ExpressionSyntax initializer)
        : base(keyword)
    {
        Identifier = identifier;
        EqualsToken = equalsToken;
        Initializer = initializer;
    }

    public override SyntaxKind Kind => SyntaxKind.StateMember;

    public SyntaxToken Identifier { get; }

    public SyntaxToken EqualsToken { get; }

    public ExpressionSyntax Initializer { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Identifier, EqualsToken, Initializer);
}

/// <summary><c>step</c> followed by step statements, one a line, up to the next strategy-level keyword.</summary>
public sealed class StepSyntax : MemberSyntax
{
    public StepSyntax(SyntaxToken keyword, IReadOnlyList<StatementSyntax> statements)
        : base(keyword) => Statements = statements;

    public override SyntaxKind Kind => SyntaxKind.StepMember;

    public IReadOnlyList<StatementSyntax> Statements { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Statements);
}

/// <summary><c>stop eos, max_tokens, eot(0.9)</c>.</summary>
public sealed class StopSyntax : MemberSyntax
{
    public StopSyntax(SyntaxToken keyword, SeparatedSyntaxList<ExpressionSyntax> conditions)
        : base(keyword) => Conditions = conditions;

    public override SyntaxKind Kind => SyntaxKind.StopMember;

    public SeparatedSyntaxList<ExpressionSyntax> Conditions { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Conditions.NodesAndSeparators);
}

/// <summary><c>constrain regex("…")</c>, <c>constrain json(schema: "file.json")</c>, <c>constrain grammar("file.gbnf")</c>, <c>constrain runtime</c>.</summary>
public sealed class ConstrainSyntax : MemberSyntax
{
    public ConstrainSyntax(SyntaxToken keyword, ExpressionSyntax constraint)
        : base(keyword) => Constraint = constraint;

    public override SyntaxKind Kind => SyntaxKind.ConstrainMember;

    public ExpressionSyntax Constraint { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Keyword, Constraint);
}
