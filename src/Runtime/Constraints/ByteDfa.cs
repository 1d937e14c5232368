using Fare;

namespace Pardec.Runtime.Constraints;

/// <summary>
/// A minimal deterministic automaton over bytes as flat tables: <c>Next(state, b)</c> is one array read, and every state
/// it returns can still reach acceptance (transitions into states that cannot are removed), so "the prefix so far is
/// still completable" is just <c>state &gt;= 0</c>. State 0 is the start. Built from a Fare automaton whose chars are
/// bytes (<see cref="Utf8Automata"/>).
/// </summary>
public sealed class ByteDfa
{
    public const int Dead = -1;
    private readonly int[] _next;        // [states * 256]
    private readonly bool[] _accepting;  // [states]

    private ByteDfa(int[] next, bool[] accepting)
    {
        _next = next;
        _accepting = accepting;
    }

    public int StateCount => _accepting.Length;

    public int Next(int state, byte b) => _next[(state << 8) | b];

    public bool IsAccepting(int state) => _accepting[state];

    /// <summary>The state after <paramref name="bytes"/> from <paramref name="state"/>, or <see cref="Dead"/>.</summary>
    public int Walk(int state, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            state = _next[(state << 8) | b];
            if (state < 0) return Dead;
        }
        return state;
    }

    /// <summary>Whether the whole of <paramref name="bytes"/> is in the language.</summary>
    public bool Matches(ReadOnlySpan<byte> bytes) => Walk(0, bytes) is var s && s >= 0 && _accepting[s];

    public bool Matches(string text) => Matches(System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>Determinises and minimises <paramref name="automaton"/> (chars 0–255 read as bytes) into tables.</summary>
    public static ByteDfa From(Automaton automaton)
    {
        var a = automaton.Clone();
        a.Determinize();
        a.Minimize();
        var states = a.GetStates().ToList();
        // Start first, then the rest in a stable order (Fare's Number after SetStateNumbers).
        states.Remove(a.Initial);
        states.Sort((x, y) => x.Id.CompareTo(y.Id));
        states.Insert(0, a.Initial);
        var index = new Dictionary<State, int>(states.Count);
        for (int i = 0; i < states.Count; i++) index[states[i]] = i;
        int n = states.Count;
        var next = new int[n * 256];
        Array.Fill(next, Dead);
        var accepting = new bool[n];
        var reverse = new List<int>[n];
        for (int i = 0; i < n; i++) reverse[i] = [];
        for (int i = 0; i < n; i++)
        {
            accepting[i] = states[i].Accept;
            foreach (var t in states[i].Transitions)
            {
                if (t.Min > 255) continue;
                int to = index[t.To];
                for (int c = t.Min; c <= Math.Min((int)t.Max, 255); c++) next[(i << 8) | c] = to;
                reverse[to].Add(i);
            }
        }
        // Live = can reach an accepting state; transitions into anything else are dead.
        var live = new bool[n];
        var queue = new Queue<int>();
        for (int i = 0; i < n; i++) if (accepting[i]) { live[i] = true; queue.Enqueue(i); }
        while (queue.Count > 0)
            foreach (int p in reverse[queue.Dequeue()])
                if (!live[p]) { live[p] = true; queue.Enqueue(p); }
        if (!live[0]) throw new ArgumentException("The constraint accepts no string at all.", nameof(automaton));
        for (int i = 0; i < next.Length; i++) if (next[i] >= 0 && !live[next[i]]) next[i] = Dead;
        return new ByteDfa(next, accepting);
    }
}
