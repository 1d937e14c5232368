using System.Collections.Generic;

namespace Pardec.Dsl.Syntax;

/// <summary>A whole .pdec file: any number of strategies.</summary>
public sealed class CompilationUnitSyntax : SyntaxNode
{
    public CompilationUnitSyntax(IReadOnlyList<StrategySyntax> strategies, SyntaxToken endOfFile)
    {
        Strategies = strategies;
        EndOfFile = endOfFile;
    }

    public override SyntaxKind Kind => SyntaxKind.CompilationUnit;

    public IReadOnlyList<StrategySyntax> Strategies { get; }

    public SyntaxToken EndOfFile { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(Strategies, EndOfFile);
}

/// <summary><c>strategy Name … end</c>.</summary>
public sealed class StrategySyntax : SyntaxNode
{
    public StrategySyntax(SyntaxToken strategyKeyword, SyntaxToken identifier, IReadOnlyList<MemberSyntax> members, SyntaxToken endKeyword)
    {
        StrategyKeyword = strategyKeyword;
        Identifier = identifier;
        Members = members;
        EndKeyword = endKeyword;
    }

    public override SyntaxKind Kind => SyntaxKind.Strategy;

    public SyntaxToken StrategyKeyword { get; }

    public SyntaxToken Identifier { get; }

    public IReadOnlyList<MemberSyntax> Members { get; }

    public SyntaxToken EndKeyword { get; }

    public override IEnumerable<SyntaxNode> GetChildren() => Children(StrategyKeyword, Identifier, Members, EndKeyword);
}
