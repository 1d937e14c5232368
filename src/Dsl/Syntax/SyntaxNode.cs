using System.Collections.Generic;
using System.IO;
using System.Linq;
using Pardec.Dsl.Text;

namespace Pardec.Dsl.Syntax;

/// <summary>Base of the syntax tree. Tokens are nodes too, so a tree can be walked uniformly.</summary>
public abstract class SyntaxNode
{
    public abstract SyntaxKind Kind { get; }

    /// <summary>The span without trivia, from the first to the last token of the node.</summary>
    public virtual TextSpan Span
    {
        get
        {
            SyntaxToken? first = null;
            SyntaxToken? last = null;
            foreach (SyntaxToken token in DescendantTokens())
            {
                first ??= token;
                last = token;
            }

            return first is null || last is null ? default : TextSpan.FromBounds(first.Span.Start, last.Span.End);
        }
    }

    public abstract IEnumerable<SyntaxNode> GetChildren();

    public IEnumerable<SyntaxToken> DescendantTokens()
    {
        if (this is SyntaxToken self)
        {
            yield return self;
            yield break;
        }

        foreach (SyntaxNode child in GetChildren())
        {
            foreach (SyntaxToken token in child.DescendantTokens())
            {
                yield return token;
            }
        }
    }

    /// <summary>An indented dump of the tree, used by syntax baselines in tests.</summary>
    public string Dump()
    {
        var writer = new StringWriter { NewLine = "\n" };
        Dump(writer, this, 0);
        return writer.ToString();
    }

    private static void Dump(TextWriter writer, SyntaxNode node, int depth)
    {
        writer.Write(new string(' ', depth * 2));
        writer.Write(node.Kind);
        if (node is SyntaxToken token)
        {
            if (token.IsMissing)
            {
                writer.Write(" <missing>");
            }
            else if (token.Kind is SyntaxKind.IdentifierToken or SyntaxKind.NumberToken or SyntaxKind.StringToken)
            {
                writer.Write(' ');
                writer.Write(token.Text);
            }
        }

        writer.WriteLine();
        foreach (SyntaxNode child in node.GetChildren())
        {
            Dump(writer, child, depth + 1);
        }
    }

    internal static IEnumerable<SyntaxNode> Children(params object?[] items)
    {
        foreach (object? item in items)
        {
            switch (item)
            {
                case null:
                    break;
                case SyntaxNode node:
                    yield return node;
                    break;
                case IEnumerable<SyntaxNode> nodes:
                    foreach (SyntaxNode n in nodes.Where(n => n is not null))
                    {
                        yield return n;
                    }

                    break;
            }
        }
    }
}
