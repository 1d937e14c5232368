using System.Collections;
using System.Collections.Generic;
using System.Linq;

namespace Pardec.Dsl.Syntax;

/// <summary>Items with the separator tokens between them (kept so spans and dumps are faithful).</summary>
public sealed class SeparatedSyntaxList<T> : IReadOnlyList<T>
    where T : SyntaxNode
{
    private readonly SyntaxNode[] _nodesAndSeparators;

    public SeparatedSyntaxList(IEnumerable<SyntaxNode> nodesAndSeparators) => _nodesAndSeparators = nodesAndSeparators.ToArray();

    public static SeparatedSyntaxList<T> Empty { get; } = new(System.Array.Empty<SyntaxNode>());

    public int Count => (_nodesAndSeparators.Length + 1) / 2;

    public T this[int index] => (T)_nodesAndSeparators[index * 2];

    public IReadOnlyList<SyntaxNode> NodesAndSeparators => _nodesAndSeparators;

    public IEnumerator<T> GetEnumerator()
    {
        for (int i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
