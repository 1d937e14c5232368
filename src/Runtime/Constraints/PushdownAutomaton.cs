using System.Runtime.CompilerServices;
using Fare;

namespace Pardec.Runtime.Constraints;

/// <summary>
/// A context-free grammar as a byte automaton whose states are made on demand: what a recursive GBNF grammar compiles
/// to. The grammar is a recursive transition network — one minimal DFA per recursive rule (and <c>root</c>), over bytes
/// and <em>calls</em> of other rules; every non-recursive rule is inlined into its callers' DFAs, so the regular parts
/// stay plain DFA transitions. A decode stands in a <em>configuration</em>: the set of pushdown stacks of rule
/// positions the bytes so far can have reached (llama.cpp's <c>llama_grammar_stacks</c>, <c>src/llama-grammar.cpp</c>,
/// with stacks shared as interned linked frames instead of copied vectors). Configurations are interned and numbered,
/// so the rest of the matcher sees an int state and a byte transition function exactly as it does for a
/// <see cref="ByteDfa"/>: <see cref="Next"/> is one array read once a transition has been taken before.
/// <para>
/// Stepping a configuration on a byte: expand it (push the callee's start for every call edge, pop a frame whose rule
/// may end here — llama.cpp's <c>llama_grammar_advance_stack</c>; a stack popped empty means the text may end), then
/// advance every stack whose top position has an edge on the byte. Bytes, not code points: a token that ends inside a
/// UTF-8 character leaves the walk inside the character's byte sequence, which is exact where llama.cpp's
/// <c>llama_partial_utf8</c> approximates (it checks only that some completion of the partial character matches the
/// current character class).
/// </para>
/// <para>
/// Built with every unproductive rule (one that derives no finite string) and every position that cannot reach the end
/// of its rule removed, so each stack can still be completed: a configuration is live exactly when it is not
/// <see cref="Dead"/>. Left recursion (a rule that can call itself before reading a byte) would make the expansion
/// infinite; it is a <see cref="ConstraintSyntaxException"/> naming the cycle, as llama.cpp rejects it.
/// </para>
/// <para>
/// Thread-safe: transitions already taken are read without a lock; new configurations are made under one. Memory grows
/// with the configurations reached (each distinct stack set, e.g. each nesting depth, is one), and is kept for the life
/// of the automaton.
/// </para>
/// </summary>
public sealed class PushdownAutomaton
{
    public const int Dead = -1;
    private const int Unknown = -3;
    private const int MaxExpansion = 1 << 20;

    // Positions: every state of every rule DFA, numbered globally.
    private readonly int[] _byteNext;           // [positions * 256] -> position, or -1
    private readonly bool[] _accepting;         // [positions]: the rule may end here
    private readonly bool[] _hasBytes;          // [positions]: at least one byte edge
    private readonly int[] _callStart, _callCount; // [positions]: call edges in _callee/_return
    private readonly int[] _callee, _return;    // the callee's start position; the caller's position after the call
    private readonly int _rootStart;

    // A graph-structured stack (Tomita's, as GLR parsers keep theirs): a frame is (position, set of parent frames),
    // interned; parent sets are interned sorted frame arrays, the frame -1 standing for the bottom (the stack is empty
    // after a pop). Stacks that reach the same position on the same byte are merged into one frame whose parents are
    // the union of theirs, so an ambiguous grammar's stacks stay a graph of polynomial size instead of a list of stacks
    // that can double with every byte (what a vector of stacks per parse, llama.cpp's, does).
    private int[] _framePosition = new int[1024], _frameParents = new int[1024];
    private int _frameCount;
    private readonly Dictionary<long, int> _frames = new();
    private readonly List<int[]> _parentSets = [];
    private readonly Dictionary<int[], int> _parentSetIds = new(new FrameSetComparer());
    private readonly int _bottom;
    // The parent "somewhere in an unknown caller": a position's own walk (ContextStart) pops into it.
    private const int Context = -2;
    private readonly int _context;

    // Configurations: sorted sets of frames (the stacks after a byte), interned.
    private Configuration[] _configurations = new Configuration[256];
    private int _configurationCount;
    private readonly Dictionary<int[], int> _configurationIds = new(new FrameSetComparer());
    private readonly object _lock = new();

    // Scratch for expansion (under the lock).
    private readonly HashSet<int> _seen = new();
    private readonly Stack<int> _work = new();
    private readonly List<int> _tops = new();

    private sealed class Configuration(int[] tops, bool accepting, bool leavesContext)
    {
        public readonly int[] Tops = tops;          // expanded frames whose position has a byte edge
        public readonly bool Accepting = accepting; // some stack pops empty: the text may end here
        public readonly bool LeavesContext = leavesContext; // some stack pops into the unknown caller (Context)
        public int[]? TopPositions;
        public readonly int[] Next = CreateNext();

        private static int[] CreateNext()
        {
            var next = new int[256];
            Array.Fill(next, Unknown);
            return next;
        }
    }

    private PushdownAutomaton(int[] byteNext, bool[] accepting, int[] callStart, int[] callCount, int[] callee, int[] @return, int rootStart, int positions)
    {
        _byteNext = byteNext;
        _accepting = accepting;
        _callStart = callStart;
        _callCount = callCount;
        _callee = callee;
        _return = @return;
        _rootStart = rootStart;
        _hasBytes = new bool[positions];
        for (int p = 0; p < positions; p++)
            for (int b = 0; b < 256 && !_hasBytes[p]; b++) _hasBytes[p] = byteNext[(p << 8) | b] >= 0;
        PositionCount = positions;
        _bottom = ParentSet([-1]);
        _context = ParentSet([Context]);
        int start = Intern([Frame(rootStart, _bottom)]);
        if (start != 0) throw new InvalidOperationException("the start configuration must be state 0");
    }

    /// <summary>Grammar positions (rule DFA states, all rules together).</summary>
    public int PositionCount { get; }

    /// <summary>Configurations made so far (grows as a decode reaches new stack sets).</summary>
    public int StateCount => Volatile.Read(ref _configurationCount);

    public int Start => 0;

    public bool IsAccepting(int state) => Volatile.Read(ref _configurations)[state].Accepting;

    /// <summary>The configuration after <paramref name="b"/>, or <see cref="Dead"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Next(int state, byte b)
    {
        int next = Volatile.Read(ref Volatile.Read(ref _configurations)[state].Next[b]);
        return next != Unknown ? next : Step(state, b);
    }

    /// <summary>The state after <paramref name="bytes"/> from <paramref name="state"/>, or <see cref="Dead"/>.</summary>
    public int Walk(int state, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            state = Next(state, b);
            if (state < 0) return Dead;
        }
        return state;
    }

    /// <summary>Whether the whole of <paramref name="bytes"/> derives from <c>root</c>.</summary>
    public bool Matches(ReadOnlySpan<byte> bytes) => Walk(Start, bytes) is var s && s >= 0 && IsAccepting(s);

    public bool Matches(string text) => Matches(System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// The distinct grammar positions a next byte can be read at in <paramref name="state"/> (its expanded top frames):
    /// a token's first byte is read by one of them.
    /// </summary>
    public ReadOnlySpan<int> TopPositions(int state)
    {
        var configuration = Volatile.Read(ref _configurations)[state];
        if (Volatile.Read(ref configuration.TopPositions) is { } cached) return cached;
        var framePosition = Volatile.Read(ref _framePosition);
        var positions = configuration.Tops.Select(f => framePosition[f]).Distinct().Order().ToArray();
        Volatile.Write(ref configuration.TopPositions, positions);
        return positions;
    }

    /// <summary>
    /// A state that stands at <paramref name="position"/> with an unknown caller below it: walking bytes from it follows
    /// the position's own rule and whatever it calls, and a configuration where the rule may end and return to the caller
    /// says so (<see cref="LeavesContext"/>). What a position's context-independent token mask is computed from
    /// (XGrammar's adaptive token mask cache).
    /// </summary>
    public int ContextStart(int position)
    {
        lock (_lock) return Intern([Frame(position, _context)]);
    }

    /// <summary>Whether some stack of <paramref name="state"/> returns into the unknown caller of <see cref="ContextStart"/>.</summary>
    public bool LeavesContext(int state) => Volatile.Read(ref _configurations)[state].LeavesContext;

    private int Step(int state, byte b)
    {
        lock (_lock)
        {
            var configuration = _configurations[state];
            int next = configuration.Next[b];
            if (next != Unknown) return next;
            // (position after b, parent set) for every stack that moves; merged by position.
            var moved = new List<(int Position, int Parents)>(configuration.Tops.Length);
            foreach (int frame in configuration.Tops)
            {
                int to = _byteNext[(_framePosition[frame] << 8) | b];
                if (to >= 0) moved.Add((to, _frameParents[frame]));
            }
            if (moved.Count == 0) next = Dead;
            else
            {
                moved.Sort();
                var frames = new List<int>();
                for (int i = 0; i < moved.Count;)
                {
                    int j = i + 1;
                    while (j < moved.Count && moved[j].Position == moved[i].Position) j++;
                    int parents = moved[i].Parents;
                    if (j - i > 1)
                    {
                        var union = new SortedSet<int>();
                        for (int k = i; k < j; k++) union.UnionWith(_parentSets[moved[k].Parents]);
                        parents = ParentSet(union.ToArray());
                    }
                    frames.Add(Frame(moved[i].Position, parents));
                    i = j;
                }
                frames.Sort();
                next = Intern(frames.ToArray());
            }
            Volatile.Write(ref configuration.Next[b], next);
            return next;
        }
    }

    // Under the lock (or from the constructor).
    private int Frame(int position, int parents)
    {
        long key = ((long)position << 32) | (uint)parents;
        if (_frames.TryGetValue(key, out int id)) return id;
        id = _frameCount++;
        if (id == _framePosition.Length)
        {
            Array.Resize(ref _framePosition, id * 2);
            Array.Resize(ref _frameParents, id * 2);
        }
        _framePosition[id] = position;
        _frameParents[id] = parents;
        _frames[key] = id;
        return id;
    }

    private int ParentSet(int[] frames)
    {
        if (_parentSetIds.TryGetValue(frames, out int id)) return id;
        id = _parentSets.Count;
        _parentSets.Add(frames);
        _parentSetIds[frames] = id;
        return id;
    }

    // Interns a configuration by its frames after a byte, expanding it (calls pushed, ended rules popped) to find the
    // frames a next byte can move and whether the text may end.
    private int Intern(int[] frames)
    {
        if (_configurationIds.TryGetValue(frames, out int id)) return id;
        _seen.Clear();
        _work.Clear();
        _tops.Clear();
        bool accepting = false, leavesContext = false;
        foreach (int f in frames) _work.Push(f);
        while (_work.Count > 0)
        {
            int frame = _work.Pop();
            if (frame < 0)
            {
                if (frame == Context) leavesContext = true; else accepting = true;
                continue;
            }
            if (!_seen.Add(frame)) continue;
            if (_seen.Count > MaxExpansion)
                throw new InvalidOperationException($"The grammar's expansion of one configuration passed {MaxExpansion} stack frames.");
            int position = _framePosition[frame], parents = _frameParents[frame];
            if (_hasBytes[position]) _tops.Add(frame);
            for (int c = _callStart[position], end = c + _callCount[position]; c < end; c++)
                _work.Push(Frame(_callee[c], ParentSet([Frame(_return[c], parents)])));
            if (_accepting[position])
                foreach (int parent in _parentSets[parents]) _work.Push(parent); // the rule ends: return to every caller
        }
        _tops.Sort();
        id = _configurationCount;
        if (id == _configurations.Length)
        {
            var grown = new Configuration[id * 2];
            Array.Copy(_configurations, grown, id);
            Volatile.Write(ref _configurations, grown);
        }
        _configurations[id] = new Configuration(_tops.ToArray(), accepting, leavesContext);
        _configurationIds[frames] = id;
        Volatile.Write(ref _configurationCount, id + 1);
        return id;
    }

    private sealed class FrameSetComparer : IEqualityComparer<int[]>
    {
        public bool Equals(int[]? x, int[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(int[] frames)
        {
            var hash = new HashCode();
            foreach (int f in frames) hash.Add(f);
            return hash.ToHashCode();
        }
    }

    /// <summary>One rule of the network: its automaton over bytes (chars 0–255) and calls (char 256 + k calls rule k).</summary>
    internal readonly record struct Rule(string Name, int Position, Automaton Body);

    /// <summary>
    /// Builds the automaton from rule DFAs; <paramref name="root"/> indexes the start rule. Unproductive rules and dead
    /// positions are removed; left recursion and a grammar that derives nothing are errors from
    /// <paramref name="error"/> (position, reason).
    /// </summary>
    /// <param name="callBytes">Bytes that stand for calls instead of themselves (callBytes[b] = the rule byte b calls, or
    /// -1): how a JSON Schema's recursive references arrive, as control characters JSON never contains.</param>
    internal static PushdownAutomaton Build(IReadOnlyList<Rule> rules, int root, Func<int, string, Exception> error, int[]? callBytes = null)
    {
        int n = rules.Count;
        var offsets = new int[n + 1];
        var states = new List<State>[n];
        for (int r = 0; r < n; r++)
        {
            var a = rules[r].Body.Clone();
            a.Determinize();
            a.Minimize();
            var list = a.GetStates().ToList();
            list.Remove(a.Initial);
            list.Sort((x, y) => x.Id.CompareTo(y.Id));
            list.Insert(0, a.Initial);
            states[r] = list;
            offsets[r + 1] = offsets[r] + list.Count;
        }
        int positions = offsets[n];
        var byteNext = new int[positions * 256];
        Array.Fill(byteNext, -1);
        var accepting = new bool[positions];
        var calls = new List<(int Callee, int Return)>[positions];
        var ruleOf = new int[positions];
        for (int r = 0; r < n; r++)
        {
            var index = new Dictionary<State, int>();
            for (int i = 0; i < states[r].Count; i++) index[states[r][i]] = offsets[r] + i;
            foreach (var s in states[r])
            {
                int p = index[s];
                ruleOf[p] = r;
                accepting[p] = s.Accept;
                calls[p] = [];
                foreach (var t in s.Transitions)
                {
                    int to = index[t.To];
                    for (int c = t.Min; c <= Math.Min((int)t.Max, 255); c++)
                    {
                        if (callBytes is not null && callBytes[c] >= 0) calls[p].Add((offsets[callBytes[c]], to));
                        else byteNext[(p << 8) | c] = to;
                    }
                    for (int c = Math.Max((int)t.Min, 256); c <= t.Max; c++)
                    {
                        if (c - 256 >= n) throw new InvalidOperationException($"call of rule {c - 256} outside the grammar");
                        calls[p].Add((offsets[c - 256], to));
                    }
                }
            }
        }

        // Productive rules (derive some finite string), then live positions (can reach their rule's end).
        var byteReverse = new List<int>[positions];
        for (int p = 0; p < positions; p++) byteReverse[p] = [];
        for (int p = 0; p < positions; p++)
            for (int b = 0; b < 256; b++)
                if (byteNext[(p << 8) | b] is int to && to >= 0 && (byteReverse[to].Count == 0 || byteReverse[to][^1] != p)) byteReverse[to].Add(p);
        var productive = new bool[n];
        bool[] live;
        while (true)
        {
            live = LivePositions(byteReverse, accepting, calls, productive, ruleOf);
            bool changed = false;
            for (int r = 0; r < n; r++)
                if (!productive[r] && live[offsets[r]]) { productive[r] = true; changed = true; }
            if (!changed) break;
        }
        if (!productive[root]) throw error(rules[root].Position, $"the grammar derives no finite string: every alternative of '{rules[root].Name}' recurses without end");
        for (int p = 0; p < positions; p++)
        {
            for (int b = 0; b < 256; b++) if (byteNext[(p << 8) | b] is int to && to >= 0 && !live[to]) byteNext[(p << 8) | b] = -1;
            calls[p].RemoveAll(c => !live[c.Return] || !productive[ruleOf[c.Callee]]);
        }

        // Left recursion: a rule that reaches a call of itself through calls of rules that may be empty.
        var nullable = new bool[n];
        for (bool changed = true; changed;)
        {
            changed = false;
            for (int r = 0; r < n; r++)
                if (!nullable[r] && EmptyReach(offsets[r], calls, nullable, ruleOf).Any(p => accepting[p])) { nullable[r] = true; changed = true; }
        }
        var leftCalls = new List<(int Callee, int From)>[n];
        for (int r = 0; r < n; r++)
            leftCalls[r] = EmptyReach(offsets[r], calls, nullable, ruleOf).SelectMany(p => calls[p].Select(c => (ruleOf[c.Callee], p))).Distinct().ToList();
        var color = new int[n]; // 0 new, 1 on the path, 2 done
        var path = new List<int>();
        void Visit(int r)
        {
            color[r] = 1;
            path.Add(r);
            foreach (var (callee, _) in leftCalls[r])
            {
                if (color[callee] == 1)
                {
                    var cycle = path.Skip(path.IndexOf(callee)).Append(callee).Select(k => rules[k].Name);
                    throw error(rules[callee].Position, $"the rule '{rules[callee].Name}' is left-recursive ({string.Join(" -> ", cycle)}): it can refer to itself before reading any text; rewrite it with repetition (item (\",\" item)*) or move the recursion after a terminal");
                }
                if (color[callee] == 0) Visit(callee);
            }
            path.RemoveAt(path.Count - 1);
            color[r] = 2;
        }
        for (int r = 0; r < n; r++) if (color[r] == 0) Visit(r);

        var callStart = new int[positions];
        var callCount = new int[positions];
        var callee = new List<int>();
        var @return = new List<int>();
        for (int p = 0; p < positions; p++)
        {
            callStart[p] = callee.Count;
            callCount[p] = calls[p].Count;
            foreach (var (c, ret) in calls[p]) { callee.Add(c); @return.Add(ret); }
        }
        return new PushdownAutomaton(byteNext, accepting, callStart, callCount, callee.ToArray(), @return.ToArray(), offsets[root], positions);
    }

    // Positions from which the end of their rule can be reached: bytes (reversed once, in byteReverse), and calls of
    // productive rules.
    private static bool[] LivePositions(List<int>[] byteReverse, bool[] accepting, List<(int Callee, int Return)>[] calls, bool[] productive, int[] ruleOf)
    {
        int positions = accepting.Length;
        var callReverse = new List<int>?[positions];
        for (int p = 0; p < positions; p++)
            foreach (var (c, ret) in calls[p])
                if (productive[ruleOf[c]]) (callReverse[ret] ??= []).Add(p);
        var live = new bool[positions];
        var queue = new Queue<int>();
        for (int p = 0; p < positions; p++) if (accepting[p]) { live[p] = true; queue.Enqueue(p); }
        while (queue.Count > 0)
        {
            int at = queue.Dequeue();
            foreach (int p in byteReverse[at]) if (!live[p]) { live[p] = true; queue.Enqueue(p); }
            if (callReverse[at] is { } callers) foreach (int p in callers) if (!live[p]) { live[p] = true; queue.Enqueue(p); }
        }
        return live;
    }

    // Positions reachable from a rule's start without reading a byte: through calls of rules that may be empty.
    private static List<int> EmptyReach(int start, List<(int Callee, int Return)>[] calls, bool[] nullable, int[] ruleOf)
    {
        var seen = new HashSet<int> { start };
        var queue = new Queue<int>([start]);
        while (queue.Count > 0)
            foreach (var (c, ret) in calls[queue.Dequeue()])
                if (nullable[ruleOf[c]] && seen.Add(ret)) queue.Enqueue(ret);
        return seen.ToList();
    }
}
