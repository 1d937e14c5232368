using System.Numerics;
using System.Runtime.CompilerServices;
using Pardec.Runtime.Constraints;

namespace Pardec.Runtime.Masked.Constrained;

/// <summary>
/// A regular constraint's token-level automaton, grouped by successor: from a state, the allowed tokens bucketed by the
/// state each one leads to (an end token leads to <see cref="TokenMatcher.Finished"/>). DINGO's dynamic program needs
/// exactly this: the best token from state q into state q' is the most probable token of one bucket, and a block step
/// never walks token bytes. A state's buckets are built the first time the program reaches it and kept, so one instance
/// serves every decode under the same matcher (<see cref="For"/>); entries built by racing threads are equal.
/// <para>Also the fewest tokens from a state to an accepting one (<see cref="FitsWithin"/>), which decides whether what
/// the block leaves can still be completed in the canvas that remains.</para>
/// </summary>
public sealed class TokenTransitions
{
    private static readonly ConditionalWeakTable<TokenMatcher, TokenTransitions> Cache = new();

    private readonly TokenMatcher _matcher;
    private readonly StateTransitions?[] _states;
    private readonly int[] _distance;   // exact fewest tokens to acceptance, or -1 unknown
    private readonly int[] _beyond;     // known: distance > _beyond[q] (0 = nothing known)

    private TokenTransitions(TokenMatcher matcher)
    {
        if (!matcher.IsRegular) throw new NotSupportedException($"{matcher.Description} is recursive: token transitions are built for regular constraints (a DFA) only.");
        _matcher = matcher;
        int n = matcher.Dfa.StateCount;
        _states = new StateTransitions?[n];
        _distance = new int[n];
        _beyond = new int[n];
        Array.Fill(_distance, -1);
        Array.Fill(_beyond, -1);
        int vocab = matcher.Vocabulary.Count;
        FinishedTokens = matcher.Vocabulary.EndTokens.ToArray().Where(t => t < vocab).ToArray();
    }

    /// <summary>The transitions of <paramref name="matcher"/> (one instance per matcher, shared).</summary>
    public static TokenTransitions For(TokenMatcher matcher) => Cache.GetValue(matcher, m => new TokenTransitions(m));

    public TokenMatcher Matcher => _matcher;
    public int StateCount => _states.Length;

    /// <summary>The end tokens: what may follow <see cref="TokenMatcher.Finished"/> (the canvas's EOS fill).</summary>
    public int[] FinishedTokens { get; }

    /// <summary>The allowed tokens of <paramref name="state"/> grouped by their successor state.</summary>
    public StateTransitions Of(int state) => _states[state] ?? (_states[state] = Build(state));

    /// <summary>
    /// Whether an accepting state can be reached from <paramref name="state"/> in at most <paramref name="tokens"/> tokens
    /// (<see cref="TokenMatcher.Finished"/> always fits; a dead state never does). A breadth-first search over the token
    /// automaton, remembered per state; <paramref name="scratch"/> holds at least two <see cref="StateCount"/>-long
    /// frontiers and a stamp array so a step allocates nothing.
    /// </summary>
    public bool FitsWithin(int state, int tokens, SearchScratch scratch)
    {
        if (state == TokenMatcher.Finished) return true;
        if (state < 0) return false;
        if (_distance[state] >= 0) return _distance[state] <= tokens;
        if (_beyond[state] >= tokens) return false;
        if (_matcher.IsAccepting(state)) { _distance[state] = 0; return true; }
        // Layer by layer: the first layer holding an accepting state is the exact distance.
        var frontier = scratch.Frontier; var next = scratch.Next; var seen = scratch.Seen;
        int stamp = scratch.NewStamp();
        int count = 1;
        frontier[0] = state;
        seen[state] = stamp;
        for (int depth = 1; depth <= tokens && count > 0; depth++)
        {
            int nextCount = 0;
            for (int i = 0; i < count; i++)
            {
                var t = Of(frontier[i]);
                for (int g = 0; g < t.GroupCount; g++)
                {
                    int to = t.Next[g];
                    if (to == TokenMatcher.Finished) continue; // end tokens leave only from accepting states
                    if (to < 0 || seen[to] == stamp) continue;
                    if (_matcher.IsAccepting(to)) { _distance[state] = depth; return true; }
                    seen[to] = stamp;
                    next[nextCount++] = to;
                }
            }
            (frontier, next) = (next, frontier);
            count = nextCount;
        }
        if (count == 0) _distance[state] = int.MaxValue; // no accepting state reachable at all (never for a live DFA state)
        else _beyond[state] = Math.Max(_beyond[state], tokens);
        return false;
    }

    private StateTransitions Build(int state)
    {
        var buckets = new SortedDictionary<int, List<int>>();
        var bits = _matcher.AllowedBits(state);
        for (int w = 0; w < bits.Length; w++)
        {
            ulong word = bits[w];
            while (word != 0)
            {
                int token = w * 64 + BitOperations.TrailingZeroCount(word);
                word &= word - 1;
                int to = _matcher.Next(state, token);
                if (to == TokenMatcher.Dead) continue;
                if (!buckets.TryGetValue(to, out var list)) buckets[to] = list = [];
                list.Add(token);
            }
        }
        var nextStates = new int[buckets.Count];
        var starts = new int[buckets.Count + 1];
        var tokens = new int[buckets.Values.Sum(l => l.Count)];
        int g = 0, at = 0;
        foreach (var (to, list) in buckets)
        {
            nextStates[g] = to;
            starts[g] = at;
            list.CopyTo(tokens, at);
            at += list.Count;
            g++;
        }
        starts[g] = at;
        return new StateTransitions(nextStates, starts, tokens);
    }

    /// <summary>Frontiers and visit stamps for <see cref="FitsWithin"/>, sized once for a matcher's states.</summary>
    public sealed class SearchScratch(int states)
    {
        public int[] Frontier { get; } = new int[states];
        public int[] Next { get; } = new int[states];
        public int[] Seen { get; } = new int[states];
        private int _stamp;

        internal int NewStamp()
        {
            if (++_stamp == int.MaxValue) { Array.Clear(Seen); _stamp = 1; }
            return _stamp;
        }
    }
}

/// <summary>One state's allowed tokens, bucket g holding <c>Tokens[Starts[g]..Starts[g + 1])</c> (ascending ids), all
/// leading to <c>Next[g]</c>.</summary>
public sealed class StateTransitions(int[] next, int[] starts, int[] tokens)
{
    public int[] Next { get; } = next;
    public int[] Starts { get; } = starts;
    public int[] Tokens { get; } = tokens;
    public int GroupCount => Next.Length;
    public ReadOnlySpan<int> Group(int g) => Tokens.AsSpan(Starts[g], Starts[g + 1] - Starts[g]);
}
