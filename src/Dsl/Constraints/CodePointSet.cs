using System;
using System.Collections.Generic;
using System.Linq;

namespace Pardec.Dsl.Constraints;

/// <summary>
/// A set of Unicode scalar values as sorted, disjoint, non-adjacent inclusive ranges: what a regex character class, a
/// GBNF character range or <c>.</c> denotes before the runtime lowers it to UTF-8 bytes (shared by the front end's
/// pattern parsers and the runtime's automata). Surrogates (U+D800–U+DFFF) are never
/// members: they are not scalar values and have no UTF-8 encoding.
/// </summary>
public sealed class CodePointSet
{
    public const int MaxCodePoint = 0x10FFFF;
    private readonly List<(int Lo, int Hi)> _ranges = new();

    public IReadOnlyList<(int Lo, int Hi)> Ranges => _ranges;
    public bool IsEmpty => _ranges.Count == 0;

    public static CodePointSet Of(int codePoint) => new CodePointSet().Add(codePoint, codePoint);
    public static CodePointSet Range(int lo, int hi) => new CodePointSet().Add(lo, hi);
    public static CodePointSet All => new CodePointSet().Add(0, MaxCodePoint);

    public CodePointSet Add(int lo, int hi)
    {
        if (lo > hi) return this;
        // Surrogates carved out.
        if (lo <= 0xDFFF && hi >= 0xD800)
        {
            if (lo < 0xD800) Insert(lo, 0xD7FF);
            if (hi > 0xDFFF) Insert(0xE000, hi);
            return this;
        }
        Insert(lo, hi);
        return this;
    }

    public CodePointSet AddAll(CodePointSet other)
    {
        foreach (var (lo, hi) in other._ranges) Insert(lo, hi);
        return this;
    }

    private void Insert(int lo, int hi)
    {
        _ranges.Add((lo, hi));
        _ranges.Sort();
        var merged = new List<(int, int)>(_ranges.Count);
        foreach (var (l, h) in _ranges)
        {
            if (merged.Count > 0 && l <= merged[merged.Count - 1].Item2 + 1) merged[merged.Count - 1] = (merged[merged.Count - 1].Item1, Math.Max(merged[merged.Count - 1].Item2, h));
            else merged.Add((l, h));
        }
        _ranges.Clear();
        _ranges.AddRange(merged);
    }

    /// <summary>Every scalar value not in this set.</summary>
    public CodePointSet Complement()
    {
        var result = new CodePointSet();
        int next = 0;
        foreach (var (lo, hi) in _ranges)
        {
            if (lo > next) result.Add(next, lo - 1);
            next = hi + 1;
        }
        if (next <= MaxCodePoint) result.Add(next, MaxCodePoint);
        return result;
    }

    public bool Contains(int codePoint) => _ranges.Any(r => r.Lo <= codePoint && codePoint <= r.Hi);

    /// <summary>ASCII letters of both cases for every letter in the set (case-insensitive literals).</summary>
    public CodePointSet WithAsciiCases()
    {
        var result = new CodePointSet().AddAll(this);
        for (int c = 'a'; c <= 'z'; c++)
        {
            if (Contains(c)) result.Add(c - 32, c - 32);
            if (Contains(c - 32)) result.Add(c, c);
        }
        return result;
    }
}
