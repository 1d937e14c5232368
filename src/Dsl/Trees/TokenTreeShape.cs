using System;
using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Collections;

namespace Pardec.Dsl.Trees;

/// <summary>Why a choice list is not a valid token tree; <see cref="PathIndex"/> points at the offending path.</summary>
public sealed record TokenTreeError(int PathIndex, string Message);

/// <summary>
/// A static token tree from a choice list such as Medusa's <c>[[0], [1], [0, 0], [0, 1]]</c>: each path
/// names, per depth, which top-k candidate to take. Node 0 is the root (the last accepted token); node i
/// (1-based) is the i-th path in canonical order — by depth, then lexicographically, as Medusa sorts them.
/// Everything the verifier needs is precomputed here so the generator can emit it as static data.
/// </summary>
public sealed record TokenTreeShape(
    EquatableArray<EquatableArray<int>> Paths,
    EquatableArray<int> Parents,
    EquatableArray<int> Depths,
    EquatableArray<int> Choices,
    EquatableArray<bool> AttentionMask,
    EquatableArray<EquatableArray<int>> RetrievalPaths,
    EquatableArray<int> TopKPerDepth)
{
    /// <summary>Nodes including the root.</summary>
    public int NodeCount => Parents.Count;

    /// <summary>Candidate tokens verified besides the root.</summary>
    public int Width => NodeCount - 1;

    public int MaxDepth => Depths.Count == 0 ? 0 : Depths.Max();

    /// <summary>Position id offset of each node from the root's position: its depth.</summary>
    public EquatableArray<int> PositionOffsets => Depths;

    /// <summary>Tree attention: node <paramref name="query"/> attends to <paramref name="key"/> iff key is an ancestor of query or query itself.</summary>
    public bool Attends(int query, int key) => AttentionMask[(query * NodeCount) + key];

    /// <summary>
    /// Index of each node in the flattened per-depth top-k candidates <c>[root, head0 top-k…, head1 top-k…]</c>
    /// — Medusa's <c>tree_indices</c>.
    /// </summary>
    public int[] GetCandidateIndices(int topK) =>
        Enumerable.Range(0, NodeCount).Select(i => i == 0 ? 0 : 1 + ((Depths[i] - 1) * topK) + Choices[i]).ToArray();

    /// <summary>Builds the shape, or returns the first reason the list is not a prefix-closed tree.</summary>
    public static TokenTreeShape? TryCreate(IReadOnlyList<IReadOnlyList<int>> choices, out TokenTreeError? error)
    {
        error = null;
        var seen = new HashSet<string>();
        for (int i = 0; i < choices.Count; i++)
        {
            IReadOnlyList<int> path = choices[i];
            if (path.Count == 0)
            {
                error = new TokenTreeError(i, "path " + i + " is empty; every path names at least one choice");
                return null;
            }

            if (path.Any(c => c < 0))
            {
                error = new TokenTreeError(i, $"path {Format(path)} has a negative choice index");
                return null;
            }

            if (!seen.Add(Key(path)))
            {
                error = new TokenTreeError(i, $"path {Format(path)} appears more than once");
                return null;
            }
        }

        for (int i = 0; i < choices.Count; i++)
        {
            IReadOnlyList<int> path = choices[i];
            if (path.Count > 1 && !seen.Contains(Key(path.Take(path.Count - 1).ToArray())))
            {
                error = new TokenTreeError(i, $"path {Format(path)} has no parent path {Format(path.Take(path.Count - 1).ToArray())}");
                return null;
            }
        }

        int[][] sorted = choices.Select(p => p.ToArray()).OrderBy(p => p, PathComparer.Instance).ToArray();
        int n = sorted.Length + 1;
        var index = new Dictionary<string, int> { [string.Empty] = 0 };
        var parents = new int[n];
        var depths = new int[n];
        var picks = new int[n];
        parents[0] = -1;
        picks[0] = -1;
        for (int i = 0; i < sorted.Length; i++)
        {
            int node = i + 1;
            int[] path = sorted[i];
            index[Key(path)] = node;
            parents[node] = index[Key(path.Take(path.Length - 1).ToArray())];
            depths[node] = path.Length;
            picks[node] = path[path.Length - 1];
        }

        var mask = new bool[n * n];
        for (int q = 0; q < n; q++)
        {
            for (int k = q; k >= 0; k = parents[k])
            {
                mask[(q * n) + k] = true;
                if (k == 0)
                {
                    break;
                }
            }
        }

        // Retrieval paths: one per leaf, root..leaf, padded with -1 to the longest path.
        bool[] hasChild = new bool[n];
        for (int i = 1; i < n; i++)
        {
            hasChild[parents[i]] = true;
        }

        int maxDepth = depths.Max();
        var retrieval = new List<EquatableArray<int>>();
        for (int leaf = 0; leaf < n; leaf++)
        {
            if (hasChild[leaf])
            {
                continue;
            }

            var nodes = new List<int>();
            for (int k = leaf; k >= 0; k = parents[k])
            {
                nodes.Add(k);
                if (k == 0)
                {
                    break;
                }
            }

            nodes.Reverse();
            while (nodes.Count < maxDepth + 1)
            {
                nodes.Add(-1);
            }

            retrieval.Add(nodes.ToEquatableArray());
        }

        int[] topK = Enumerable.Range(1, maxDepth)
            .Select(d => sorted.Where(p => p.Length == d).Select(p => p[d - 1] + 1).DefaultIfEmpty(0).Max())
            .ToArray();

        return new TokenTreeShape(
            sorted.Select(p => p.ToEquatableArray()).ToEquatableArray(),
            parents,
            depths,
            picks,
            mask,
            retrieval.ToEquatableArray(),
            topK);
    }

    public static TokenTreeShape Create(IReadOnlyList<IReadOnlyList<int>> choices) =>
        TryCreate(choices, out TokenTreeError? error) ?? throw new ArgumentException(error!.Message, nameof(choices));

    public override string ToString() => "[" + string.Join(", ", Paths.Select(p => Format(p.ToArray()))) + "]";

    private static string Key(IReadOnlyList<int> path) => string.Join(",", path);

    private static string Format(IReadOnlyList<int> path) => "[" + string.Join(", ", path) + "]";

    private sealed class PathComparer : IComparer<int[]>
    {
        public static readonly PathComparer Instance = new();

        public int Compare(int[]? x, int[]? y)
        {
            if (x!.Length != y!.Length)
            {
                return x.Length.CompareTo(y.Length);
            }

            for (int i = 0; i < x.Length; i++)
            {
                if (x[i] != y[i])
                {
                    return x[i].CompareTo(y[i]);
                }
            }

            return 0;
        }
    }
}
