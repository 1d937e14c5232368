using System.Text;

namespace Pardec.Constraints.Tests;

/// <summary>
/// Random GBNF grammars over a small alphabet (<c>a b c ( )</c> and the two-byte <c>é</c>), written as GBNF text —
/// literals, character classes, groups, <c>* + ?</c>, alternatives, references to any rule (so recursion, left
/// recursion and rules that derive nothing all occur) — together with the same grammar as a plain context-free grammar
/// over bytes, which <see cref="EarleyRecognizer"/> reads. The two are written from one tree, so they mean the same.
/// </summary>
internal sealed class RandomGrammar
{
    public static readonly byte[][] Alphabet = ["a"u8.ToArray(), "b"u8.ToArray(), "c"u8.ToArray(), "("u8.ToArray(), ")"u8.ToArray(), "\u00e9"u8.ToArray()];

    // Plain CFG: rule -> alternatives -> symbols; a symbol >= 0 is a rule, < 0 is a byte set index (~index).
    public readonly List<List<List<int>>> Rules = [];
    public readonly List<bool[]> ByteSets = [];
    public string Text { get; }
    public int RuleCount { get; }

    private readonly Random _random;
    private readonly StringBuilder _text = new();

    public RandomGrammar(int seed)
    {
        _random = new Random(seed);
        RuleCount = _random.Next(1, 5);
        for (int r = 0; r < RuleCount; r++) Rules.Add([]);
        for (int r = 0; r < RuleCount; r++)
        {
            _text.Append(Name(r)).Append(" ::= ");
            Rules[r].AddRange(Alternatives(r, depth: 0));
            _text.Append('\n');
        }
        Text = _text.ToString();
    }

    private static string Name(int rule) => rule == 0 ? "root" : $"r{rule}";

    private List<List<int>> Alternatives(int owner, int depth)
    {
        int count = _random.Next(1, depth == 0 ? 4 : 3);
        var alternatives = new List<List<int>>();
        for (int i = 0; i < count; i++)
        {
            if (i > 0) _text.Append(" | ");
            alternatives.Add(Sequence(owner, depth));
        }
        return alternatives;
    }

    private List<int> Sequence(int owner, int depth)
    {
        int length = _random.Next(0, 4);
        var symbols = new List<int>();
        if (length == 0) { _text.Append("\"\""); return symbols; }
        for (int i = 0; i < length; i++)
        {
            if (i > 0) _text.Append(' ');
            symbols.AddRange(Item(owner, depth, first: i == 0));
        }
        return symbols;
    }

    private List<int> Item(int owner, int depth, bool first)
    {
        // Mostly a terminal first, so that references (recursion) mostly come after some text, as in real grammars;
        // the rest still makes left recursion often enough to test its refusal.
        int kind = first && _random.Next(4) > 0 ? _random.Next(5) : _random.Next(depth < 2 ? 11 : 8);
        List<int> item;
        if (kind < 3)
        {
            // A literal of one or two alphabet characters.
            int n = _random.Next(1, 3);
            item = [];
            _text.Append('"');
            for (int i = 0; i < n; i++)
            {
                var ch = Alphabet[_random.Next(Alphabet.Length)];
                _text.Append(Encoding.UTF8.GetString(ch));
                foreach (byte b in ch) item.Add(Set(b));
            }
            _text.Append('"');
        }
        else if (kind < 5)
        {
            // A class of ASCII alphabet characters.
            var members = "abc()".Where(_ => _random.Next(2) == 0).ToList();
            if (members.Count == 0) members.Add('a');
            _text.Append('[').Append(string.Concat(members)).Append(']');
            item = [Set(members.Select(c => (byte)c).ToArray())];
        }
        else if (kind < 8)
        {
            int rule = _random.Next(RuleCount);
            _text.Append(Name(rule));
            item = [rule];
        }
        else
        {
            _text.Append('(');
            int group = NewRule();
            Rules[group].AddRange(Alternatives(owner, depth + 1));
            _text.Append(')');
            item = [group];
        }
        if (_random.Next(4) == 0) item = Quantify(item);
        return item;
    }

    // X* -> N ::= X N | ε;  X+ -> N ::= X N | X;  X? -> N ::= X | ε
    private List<int> Quantify(List<int> item)
    {
        int n = NewRule();
        switch (_random.Next(3))
        {
            case 0: _text.Append('*'); Rules[n].Add([.. item, n]); Rules[n].Add([]); break;
            case 1: _text.Append('+'); Rules[n].Add([.. item, n]); Rules[n].Add([.. item]); break;
            default: _text.Append('?'); Rules[n].Add([.. item]); Rules[n].Add([]); break;
        }
        return [n];
    }

    private int NewRule()
    {
        Rules.Add([]);
        return Rules.Count - 1;
    }

    private int Set(params byte[] members)
    {
        var set = new bool[256];
        foreach (byte b in members) set[b] = true;
        ByteSets.Add(set);
        return ~(ByteSets.Count - 1);
    }
}

/// <summary>
/// Earley's recognizer (with Aycock and Horspool's handling of empty rules) over bytes: the brute-force reference the
/// pushdown matcher is checked against. Unproductive alternatives are dropped first, so every item it holds can still be
/// completed: a byte string is a viable prefix exactly when the last chart is not empty.
/// </summary>
internal sealed class EarleyRecognizer
{
    private readonly List<List<int>>[] _rules;
    private readonly List<bool[]> _sets;
    private readonly bool[] _nullable;

    public EarleyRecognizer(RandomGrammar grammar)
    {
        _sets = grammar.ByteSets;
        int n = grammar.Rules.Count;
        var productive = new bool[n];
        for (bool changed = true; changed;)
        {
            changed = false;
            for (int r = 0; r < n; r++)
                if (!productive[r] && grammar.Rules[r].Any(a => a.All(s => s < 0 || productive[s]))) productive[r] = changed = true;
        }
        Productive = productive[0];
        _rules = grammar.Rules.Select(alts => alts.Where(a => a.All(s => s < 0 || productive[s])).ToList()).ToArray();
        _nullable = new bool[n];
        for (bool changed = true; changed;)
        {
            changed = false;
            for (int r = 0; r < n; r++)
                if (!_nullable[r] && _rules[r].Any(a => a.All(s => s >= 0 && _nullable[s]))) _nullable[r] = changed = true;
        }
    }

    /// <summary>Whether root derives any finite string.</summary>
    public bool Productive { get; }

    // An item: rule, alternative, dot, origin. Rule -1 is the augmented start S' -> root.
    private readonly record struct Item(int Rule, int Alt, int Dot, int Origin);

    private List<int> Body(Item i) => i.Rule < 0 ? [0] : _rules[i.Rule][i.Alt];

    /// <summary>(viable prefix, complete sentence) for <paramref name="input"/>.</summary>
    public (bool Viable, bool Accepts) Recognize(ReadOnlySpan<byte> input)
    {
        var charts = new List<HashSet<Item>>();
        var first = new HashSet<Item>();
        charts.Add(first);
        Close(charts, 0, [new Item(-1, 0, 0, 0)]);
        for (int k = 0; k < input.Length; k++)
        {
            var scanned = new List<Item>();
            foreach (var item in charts[k])
            {
                var body = Body(item);
                if (item.Dot < body.Count && body[item.Dot] < 0 && _sets[~body[item.Dot]][input[k]])
                    scanned.Add(item with { Dot = item.Dot + 1 });
            }
            if (scanned.Count == 0) return (false, false);
            charts.Add([]);
            Close(charts, k + 1, scanned);
        }
        bool accepts = charts[^1].Contains(new Item(-1, 0, 1, 0));
        return (true, accepts);
    }

    private void Close(List<HashSet<Item>> charts, int k, List<Item> seeds)
    {
        var chart = charts[k];
        var work = new Stack<Item>(seeds);
        while (work.Count > 0)
        {
            var item = work.Pop();
            if (!chart.Add(item)) continue;
            var body = Body(item);
            if (item.Dot < body.Count)
            {
                int symbol = body[item.Dot];
                if (symbol < 0) continue;
                for (int a = 0; a < _rules[symbol].Count; a++) work.Push(new Item(symbol, a, 0, k));
                if (_nullable[symbol]) work.Push(item with { Dot = item.Dot + 1 });
                // Items of charts[k] already waiting on a symbol completed in k were handled when they were added.
                foreach (var done in chart.ToList())
                    if (done.Rule == symbol && done.Origin == k && done.Dot == Body(done).Count) work.Push(item with { Dot = item.Dot + 1 });
            }
            else if (item.Rule >= 0)
            {
                foreach (var waiting in charts[item.Origin].ToList())
                {
                    var wb = Body(waiting);
                    if (waiting.Dot < wb.Count && wb[waiting.Dot] == item.Rule) work.Push(waiting with { Dot = waiting.Dot + 1 });
                }
            }
        }
    }
}
