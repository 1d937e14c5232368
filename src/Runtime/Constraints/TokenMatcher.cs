using System.Runtime.Intrinsics;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Pardec.Runtime.Constraints;

/// <summary>
/// A constraint's byte automaton lifted to tokens: which token ids may come next in a state (a bit mask over the
/// vocabulary), the state after a token, and whether a state forces its next token. States are the automaton's, plus
/// <see cref="Finished"/> (an end token was taken) and <see cref="Dead"/> (the prefix can no longer be completed).
/// The automaton is a <see cref="ByteDfa"/> for regular constraints (regexes, JSON Schemas, regular GBNF) or a
/// <see cref="PushdownAutomaton"/> for recursive GBNF, whose states (configurations of rule stacks) are made as they
/// are reached; everything here, and everything that uses a matcher, is the same for both.
/// <para>
/// A state's mask is computed the first time the state is reached, by walking the token trie and the automaton
/// together (<see cref="TokenTrie"/>: tokens that share a prefix share its walk, and a branch is cut at the first byte
/// the automaton refuses), and kept: after warm-up a decode step reads masks and allocates nothing. The cache is per
/// matcher, so one matcher serves every request with the same constraint and tokenizer; it is safe to share across
/// threads (a state's entry is built once, racing builders produce equal entries). Under a recursive grammar a decode
/// that goes deeper than any before reaches configurations no mask exists for yet: those steps build one (a trie walk
/// and an allocation of a mask), the others are the cached path.
/// </para>
/// </summary>
public sealed class TokenMatcher
{
    public const int Dead = -1;
    /// <summary>An end token was appended in an accepting state: nothing may follow.</summary>
    public const int Finished = -2;

    private readonly ByteDfa? _dfa;
    private readonly PushdownAutomaton? _pushdown;
    private readonly TokenVocabulary _vocabulary;
    private StateMask?[] _masks;
    private readonly object _grow = new();
    private readonly int _words;

    public TokenMatcher(ByteDfa dfa, TokenVocabulary vocabulary, string description = "constraint")
    {
        _dfa = dfa;
        _vocabulary = vocabulary;
        _masks = new StateMask?[dfa.StateCount];
        _words = (vocabulary.Count + 63) / 64;
        Description = description;
    }

    /// <summary>A recursive grammar's matcher: states are the pushdown automaton's configurations.</summary>
    /// <param name="positionMasks">Build a new configuration's mask from per-position caches where few tokens depend
    /// on the stack (the default); false builds every mask by the trie walk (for measuring the difference).</param>
    public TokenMatcher(PushdownAutomaton pushdown, TokenVocabulary vocabulary, string description = "grammar", bool positionMasks = true)
    {
        _pushdown = pushdown;
        _usePositionMasks = positionMasks;
        _vocabulary = vocabulary;
        _masks = new StateMask?[Math.Max(64, pushdown.StateCount)];
        _words = (vocabulary.Count + 63) / 64;
        Description = description;
    }

    /// <summary>Whether the constraint is regular (a <see cref="ByteDfa"/>); false for a recursive grammar.</summary>
    public bool IsRegular => _dfa is not null;

    /// <summary>The regular constraint's DFA. A recursive grammar has none (<see cref="Pushdown"/>).</summary>
    public ByteDfa Dfa => _dfa ?? throw new InvalidOperationException($"{Description} is recursive: it has a pushdown automaton (Pushdown), not a DFA.");

    /// <summary>A recursive grammar's automaton, or null for a regular constraint.</summary>
    public PushdownAutomaton? Pushdown => _pushdown;

    /// <summary>The automaton state after <paramref name="b"/> (no tokens involved), or <see cref="Dead"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public int NextByte(int state, byte b) => _dfa is { } dfa ? dfa.Next(state, b) : _pushdown!.Next(state, b);

    /// <summary>The automaton state after <paramref name="bytes"/>, or <see cref="Dead"/>.</summary>
    public int WalkBytes(int state, ReadOnlySpan<byte> bytes)
    {
        if (state < 0) return Dead;
        if (_dfa is { } dfa) return dfa.Walk(state, bytes);
        return _pushdown!.Walk(state, bytes);
    }

    /// <summary>Whether the whole of <paramref name="bytes"/> matches the constraint.</summary>
    public bool Matches(ReadOnlySpan<byte> bytes) => WalkBytes(Start, bytes) is var s && IsAccepting(s);
    public TokenVocabulary Vocabulary => _vocabulary;
    /// <summary>What the constraint is, for people (a pattern, a schema's file name).</summary>
    public string Description { get; }
    public int Start => 0;

    /// <summary>Whether the output may end in <paramref name="state"/> (an end token is allowed there).</summary>
    public bool IsAccepting(int state) => state >= 0 && (_dfa is { } dfa ? dfa.IsAccepting(state) : _pushdown!.IsAccepting(state));

    /// <summary>The state after <paramref name="token"/>; <see cref="Dead"/> when the constraint forbids it.</summary>
    public int Next(int state, int token)
    {
        if (state < 0) return Dead;
        if (_vocabulary.IsEnd(token)) return IsAccepting(state) ? Finished : Dead;
        var bytes = _vocabulary.Bytes(token);
        if (bytes.IsEmpty) return Dead;
        return WalkBytes(state, bytes);
    }

    /// <summary>Whether <paramref name="token"/> may follow in <paramref name="state"/>.</summary>
    public bool Allows(int state, int token)
    {
        if (state < 0 || (uint)token >= (uint)_vocabulary.Count) return false;
        var mask = Mask(state).Bits;
        return (mask[token >> 6] & (1UL << (token & 63))) != 0;
    }

    /// <summary>The allowed tokens of <paramref name="state"/> as bits (token t is bit t &amp; 63 of word t / 64), end tokens included where it accepts.</summary>
    public ReadOnlySpan<ulong> AllowedBits(int state) => state < 0 ? default : Mask(state).Bits;

    /// <summary>How many tokens <paramref name="state"/> allows (end tokens included).</summary>
    public int AllowedCount(int state) => state < 0 ? 0 : Mask(state).Count;

    /// <summary>The one token <paramref name="state"/> allows, or -1 when it allows none or several.</summary>
    public int ForcedToken(int state) => state < 0 ? -1 : Mask(state).Forced;

    /// <summary>
    /// Sets every logit the state forbids to −∞, in place: one row <c>[vocab]</c> (ids past the vocabulary are forbidden).
    /// Vectorised over 64-token words: an all-allowed word is skipped, an all-forbidden one filled.
    /// </summary>
    public void MaskLogits(int state, Span<float> row)
    {
        int vocab = Math.Min(row.Length, _vocabulary.Count);
        if (state < 0) { row.Fill(float.NegativeInfinity); return; }
        var bits = Mask(state).Bits;
        for (int w = 0; w * 64 < vocab; w++)
        {
            ulong word = bits[w];
            int start = w * 64, length = Math.Min(64, vocab - start);
            if (word == ulong.MaxValue && length == 64) continue;
            if (word == 0) { row.Slice(start, length).Fill(float.NegativeInfinity); continue; }
            if (length == 64 && Vector256.IsHardwareAccelerated)
            {
                // A mixed word: eight lanes at a time, each kept or set to −∞ by its byte of the word.
                ref float at = ref row[start];
                for (int lane = 0; lane < 64; lane += 8)
                {
                    var keep = LaneMasks[(int)(word >> lane) & 0xFF];
                    var v = Vector256.LoadUnsafe(ref at, (nuint)lane);
                    Vector256.ConditionalSelect(keep, v, NegativeInfinity).StoreUnsafe(ref at, (nuint)lane);
                }
                continue;
            }
            ulong forbidden = ~word;
            while (forbidden != 0)
            {
                int bit = BitOperations.TrailingZeroCount(forbidden);
                if (bit >= length) break;
                row[start + bit] = float.NegativeInfinity;
                forbidden &= forbidden - 1;
            }
        }
        if (row.Length > vocab) row[vocab..].Fill(float.NegativeInfinity);
    }

    // For each byte of a mask word, the eight-lane select mask it stands for (bit k set: lane k kept).
    private static readonly Vector256<float>[] LaneMasks = BuildLaneMasks();
    private static readonly Vector256<float> NegativeInfinity = Vector256.Create(float.NegativeInfinity);

    private static Vector256<float>[] BuildLaneMasks()
    {
        var masks = new Vector256<float>[256];
        Span<int> lanes = stackalloc int[8];
        for (int b = 0; b < 256; b++)
        {
            for (int k = 0; k < 8; k++) lanes[k] = (b >> k & 1) != 0 ? -1 : 0;
            masks[b] = Vector256.Create<int>(lanes).AsSingle();
        }
        return masks;
    }

    /// <summary>
    /// The bytes the constraint forces from <paramref name="state"/>: followed while the state is not accepting and has
    /// exactly one byte out (at most <paramref name="max"/>). What jump-forward decoding can write without asking a model.
    /// </summary>
    public int ForcedBytes(int state, Span<byte> into)
    {
        int n = 0;
        while (state >= 0 && n < into.Length && !IsAccepting(state))
        {
            int only = -1;
            for (int b = 0; b < 256; b++)
            {
                if (NextByte(state, (byte)b) < 0) continue;
                if (only >= 0) return n;
                only = b;
            }
            if (only < 0) return n;
            into[n++] = (byte)only;
            state = NextByte(state, (byte)only);
        }
        return n;
    }

    /// <summary>
    /// The longest token allowed in <paramref name="state"/> whose bytes are a prefix of <paramref name="bytes"/>, or -1:
    /// the greedy tokenisation of a forced string, one token at a time.
    /// </summary>
    public int LongestTokenPrefix(int state, ReadOnlySpan<byte> bytes, out int length)
    {
        var trie = _vocabulary.Trie;
        int node = 0, best = -1;
        length = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            int child = FindChild(trie, node, bytes[i]);
            if (child < 0) break;
            node = child;
            // Several ids can spell the same bytes (SentencePiece's "\"" piece and its byte-fallback <0x22>): the
            // highest id is the merged piece a tokenizer emits, byte-fallback ids come first in the vocabulary.
            for (int k = trie.TokenCount[node] - 1; k >= 0; k--)
            {
                int token = trie.Tokens[trie.TokenStart[node] + k];
                if (Allows(state, token)) { best = token; length = i + 1; break; }
            }
        }
        return best;
    }

    /// <summary>
    /// The allowed tokens of <paramref name="state"/> whose bytes are prefixes of <paramref name="bytes"/>, longest first,
    /// at most <paramref name="into"/>.Length of them; returns how many.
    /// </summary>
    public int AllowedPrefixTokens(int state, ReadOnlySpan<byte> bytes, Span<int> into)
    {
        var trie = _vocabulary.Trie;
        int node = 0, depth = 0;
        // Walk down as far as the bytes go, then collect from the deepest node up.
        Span<int> path = stackalloc int[Math.Min(bytes.Length, 256)];
        for (; depth < path.Length; depth++)
        {
            int child = FindChild(trie, node, bytes[depth]);
            if (child < 0) break;
            path[depth] = node = child;
        }
        // Longest first, and at one length every id spelling it (highest first); when there are more
        // lengths than room, the last slot goes to the shortest: a target spelling unfamiliar text piece by piece
        // picks short tokens, the longest match is the tokenizer's own spelling.
        Span<int> found = stackalloc int[64];
        int all = 0;
        for (int d = depth - 1; d >= 0; d--)
        {
            int at = path[d];
            for (int k = trie.TokenCount[at] - 1; k >= 0 && all < found.Length; k--)
            {
                int token = trie.Tokens[trie.TokenStart[at] + k];
                if (Allows(state, token)) found[all++] = token; // every id spelling these bytes, highest first
            }
        }
        int count = Math.Min(all, into.Length);
        found[..count].CopyTo(into);
        if (all > into.Length && into.Length > 1) into[^1] = found[all - 1];
        return count;
    }

    private static int FindChild(TokenTrie trie, int node, byte b)
    {
        int start = trie.ChildStart[node], count = trie.ChildCount[node];
        int lo = start, hi = start + count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            byte e = trie.EdgeByte[mid];
            if (e == b) return mid;
            if (e < b) lo = mid + 1; else hi = mid - 1;
        }
        return -1;
    }

    /// <summary>
    /// Computes every reachable state's mask now (from the start state, over allowed tokens), so no decode pays for it;
    /// returns how many states it reached. A recursive grammar can reach infinitely many (one per nesting depth): it
    /// stops after <paramref name="maxStates"/>, 4096 unless given.
    /// </summary>
    public int Precompute(int maxStates = int.MaxValue)
    {
        if (_pushdown is not null && maxStates == int.MaxValue) maxStates = 4096;
        var seen = new HashSet<int> { Start };
        var queue = new Queue<int>();
        queue.Enqueue(Start);
        while (queue.Count > 0 && seen.Count <= maxStates)
        {
            int s = queue.Dequeue();
            var bits = Mask(s).Bits;
            for (int w = 0; w < bits.Length; w++)
            {
                ulong word = bits[w];
                while (word != 0)
                {
                    int token = w * 64 + BitOperations.TrailingZeroCount(word);
                    word &= word - 1;
                    int next = Next(s, token);
                    if (next >= 0 && seen.Add(next)) queue.Enqueue(next);
                }
            }
        }
        return seen.Count;
    }

    private StateMask Mask(int state)
    {
        var masks = Volatile.Read(ref _masks);
        if ((uint)state < (uint)masks.Length && Volatile.Read(ref masks[state]) is { } cached) return cached;
        var built = Build(state);
        lock (_grow)
        {
            masks = _masks;
            if (state >= masks.Length)
            {
                Array.Resize(ref masks, Math.Max(state + 1, masks.Length * 2));
                Volatile.Write(ref _masks, masks);
            }
            return masks[state] ??= built;
        }
    }

    /// <summary>Masks built so far by the trie walk of the state (every regular one), and from position caches.</summary>
    public int TrieMasksBuilt => _trieMasks;
    public int PositionMasksBuilt => _positionMasksBuilt;
    private int _trieMasks, _positionMasksBuilt;

    private StateMask Build(int state)
    {
        if (_pushdown is not null && _usePositionMasks && BuildFromPositions(state) is { } fromPositions)
        {
            Interlocked.Increment(ref _positionMasksBuilt);
            return fromPositions;
        }
        Interlocked.Increment(ref _trieMasks);
        var bits = new ulong[_words];
        var trie = _vocabulary.Trie;
        // Depth-first over (trie node, DFA state); a branch ends where the DFA dies.
        var stack = new Stack<(int Node, int State)>();
        stack.Push((0, state));
        while (stack.Count > 0)
        {
            var (node, s) = stack.Pop();
            int start = trie.ChildStart[node], end = start + trie.ChildCount[node];
            for (int c = start; c < end; c++)
            {
                int next = NextByte(s, trie.EdgeByte[c]);
                if (next < 0) continue;
                for (int k = 0; k < trie.TokenCount[c]; k++)
                {
                    int token = trie.Tokens[trie.TokenStart[c] + k];
                    bits[token >> 6] |= 1UL << (token & 63);
                }
                if (trie.ChildCount[c] > 0) stack.Push((c, next));
            }
        }
        return Finish(state, bits);
    }

    private StateMask Finish(int state, ulong[] bits)
    {
        if (IsAccepting(state))
            foreach (int end in _vocabulary.EndTokens)
                if (end < _vocabulary.Count) bits[end >> 6] |= 1UL << (end & 63);
        int count = 0, forced = -1;
        for (int w = 0; w < bits.Length; w++)
        {
            int here = BitOperations.PopCount(bits[w]);
            if (here > 0 && count == 0) forced = w * 64 + BitOperations.TrailingZeroCount(bits[w]);
            count += here;
        }
        return new StateMask(bits, count, count == 1 ? forced : -1);
    }

    private sealed record StateMask(ulong[] Bits, int Count, int Forced);

    // ---- recursive grammars: masks from per-position caches (XGrammar's adaptive token mask cache) ----

    /// <summary>
    /// A grammar position's tokens, decided once from the position alone (<see cref="PushdownAutomaton.ContextStart"/>):
    /// <see cref="Accepted"/> are read entirely inside the position's rule and what it calls, so they are allowed
    /// wherever the position is a top of the stack; <see cref="Dependent"/> can only be read by returning from the rule
    /// into its caller partway, so whether they are allowed depends on the stack below (checked by walking them).
    /// Every other token is refused from this position whatever the stack.
    /// </summary>
    private sealed record PositionMask(ulong[] Accepted, int[] Dependent);

    private PositionMask?[]? _positionMasks;
    private readonly bool _usePositionMasks;

    // Past this many context-dependent tokens, walking them one by one costs more than one trie walk of the state.
    private int DependentLimit => Math.Max(64, _vocabulary.Count / 16);

    // Mask of a pushdown state: the union of its top positions' accepted tokens, plus the context-dependent ones that
    // the whole stack reads. Null (build by the trie walk instead) when too many tokens depend on the stack.
    private StateMask? BuildFromPositions(int state)
    {
        var pushdown = _pushdown!;
        var positions = pushdown.TopPositions(state);
        var masks = new PositionMask[positions.Length];
        int dependent = 0;
        for (int i = 0; i < positions.Length; i++)
        {
            masks[i] = Position(positions[i]);
            dependent += masks[i].Dependent.Length;
            if (dependent > DependentLimit) return null;
        }
        var bits = new ulong[_words];
        foreach (var mask in masks)
            for (int w = 0; w < bits.Length; w++) bits[w] |= mask.Accepted[w];
        foreach (var mask in masks)
            foreach (int token in mask.Dependent)
                if ((bits[token >> 6] & (1UL << (token & 63))) == 0 && pushdown.Walk(state, _vocabulary.Bytes(token)) >= 0)
                    bits[token >> 6] |= 1UL << (token & 63);
        return Finish(state, bits);
    }

    private PositionMask Position(int position)
    {
        var cache = _positionMasks ??= new PositionMask?[_pushdown!.PositionCount];
        if (Volatile.Read(ref cache[position]) is { } known) return known;
        var built = BuildPosition(position);
        Volatile.Write(ref cache[position], built);
        return built;
    }

    // One trie walk from the position with an unknown caller. A token is accepted if its bytes are read without
    // returning to the caller; dependent if the walk dies after some prefix at which the rule could have returned
    // (the caller might read the rest); refused otherwise.
    private PositionMask BuildPosition(int position)
    {
        var pushdown = _pushdown!;
        var trie = _vocabulary.Trie;
        var accepted = new ulong[_words];
        var dependent = new List<int>();
        int start = pushdown.ContextStart(position);
        var stack = new Stack<(int Node, int State, bool Returned)>();
        stack.Push((0, start, pushdown.LeavesContext(start)));
        while (stack.Count > 0)
        {
            var (node, s, returned) = stack.Pop();
            int first = trie.ChildStart[node], end = first + trie.ChildCount[node];
            for (int c = first; c < end; c++)
            {
                int next = pushdown.Next(s, trie.EdgeByte[c]);
                if (next < 0)
                {
                    if (returned) CollectSubtree(trie, c, dependent);
                    continue;
                }
                for (int k = 0; k < trie.TokenCount[c]; k++)
                {
                    int token = trie.Tokens[trie.TokenStart[c] + k];
                    accepted[token >> 6] |= 1UL << (token & 63);
                }
                if (trie.ChildCount[c] > 0) stack.Push((c, next, returned || pushdown.LeavesContext(next)));
            }
        }
        return new PositionMask(accepted, dependent.ToArray());
    }

    private static void CollectSubtree(TokenTrie trie, int root, List<int> into)
    {
        var stack = new Stack<int>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            int node = stack.Pop();
            for (int k = 0; k < trie.TokenCount[node]; k++) into.Add(trie.Tokens[trie.TokenStart[node] + k]);
            int first = trie.ChildStart[node];
            for (int c = first; c < first + trie.ChildCount[node]; c++) stack.Push(c);
        }
    }
}
