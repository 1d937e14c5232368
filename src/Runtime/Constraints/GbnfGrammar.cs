using System.Globalization;
using Fare;
using Pardec.Dsl.Constraints;

namespace Pardec.Runtime.Constraints;

/// <summary>
/// llama.cpp's GBNF grammar format (<c>grammars/README.md</c> in llama.cpp), compiled to a byte automaton. Syntax as
/// llama.cpp parses it: <c>name ::= alternatives</c>; a rule ends at a newline unless inside parentheses or after
/// <c>|</c> / <c>::=</c>; terminals <c>"…"</c> (escapes <c>\n \r \t \\ \" \xHH \uHHHH \UHHHHHHHH</c>), <c>[…]</c> and
/// <c>[^…]</c> character ranges, <c>.</c> any character; grouping, <c>|</c>, <c>* + ?</c>, <c>{m} {m,} {m,n}</c>;
/// <c>#</c> comments. The start rule is <c>root</c>.
/// <para>
/// A grammar in which no rule reachable from <c>root</c> refers back to itself is regular: <see cref="Compile"/> inlines
/// every rule into one byte automaton (a <see cref="ByteDfa"/>, the fast path). A recursive grammar (llama.cpp's
/// json.gbnf has <c>value → object → value</c>) is lowered by <see cref="Lower"/> to a <see cref="PushdownAutomaton"/>:
/// one DFA per recursive rule with calls between them, every other rule inlined. Left recursion (<c>expr ::= expr "+"
/// term</c>) is a <see cref="ConstraintSyntaxException"/> naming the cycle, as in llama.cpp. Token references
/// (<c>&lt;[id]&gt;</c>, <c>&lt;think&gt;</c>) are not supported.
/// </para>
/// </summary>
public sealed class GbnfGrammar
{
    private readonly string _text;
    private readonly string? _file;
    private readonly Dictionary<string, (Node Body, int Position)> _rules = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Automaton> _compiled = new(StringComparer.Ordinal);
    private readonly List<string> _compiling = [];

    private GbnfGrammar(string text, string? file)
    {
        _text = text;
        _file = file;
    }

    /// <summary>A regular grammar as one byte automaton; a recursive one is an error naming the cycle (use <see cref="Lower"/>).</summary>
    public static Automaton Compile(string grammar, string? file = null)
    {
        var g = new GbnfGrammar(grammar, file);
        g.ParseRules();
        if (!g._rules.ContainsKey("root")) throw g.Error(0, "the grammar has no 'root' rule");
        return g.Rule("root", 0);
    }

    /// <summary>
    /// The grammar as a byte automaton when it is regular (<see cref="GbnfLowering.Regular"/>), otherwise as a pushdown
    /// automaton (<see cref="GbnfLowering.Pushdown"/>). Syntax errors, undefined rules and left recursion are
    /// <see cref="ConstraintSyntaxException"/>s at their position.
    /// </summary>
    public static GbnfLowering Lower(string grammar, string? file = null)
    {
        var g = new GbnfGrammar(grammar, file);
        g.ParseRules();
        if (!g._rules.ContainsKey("root")) throw g.Error(0, "the grammar has no 'root' rule");
        var recursive = g.RecursiveRules();
        if (recursive.Count == 0) return new GbnfLowering(g.Rule("root", 0), null);
        return new GbnfLowering(null, g.Pushdown(recursive));
    }

    private ConstraintSyntaxException Error(int at, string reason) => new(ConstraintLanguage.Gbnf, _text, at, reason, _file);

    // ---- syntax ----

    private abstract record Node(int Position);
    private sealed record Alternatives(int Position, List<Node> Options) : Node(Position);
    private sealed record Sequence(int Position, List<Node> Items) : Node(Position);
    private sealed record Terminal(int Position, Automaton Bytes) : Node(Position);
    private sealed record RuleRef(int Position, string Name) : Node(Position);
    private sealed record Repeat(int Position, Node Item, int Min, int Max) : Node(Position); // Max -1 = unbounded

    // The syntax is GbnfParser's (src/Dsl, shared with the front end, so a grammar file `pardec check` accepts is one this
    // compiles); its tree becomes the nodes lowering reads, terminals already as byte automata.
    private void ParseRules()
    {
        GbnfSyntax syntax;
        try
        {
            syntax = GbnfParser.Parse(_text);
        }
        catch (PatternSyntaxException e)
        {
            throw Error(e.Position, e.Reason);
        }
        foreach (var rule in syntax.Rules) _rules[rule.Name] = (Convert(rule.Body), rule.Position);
    }

    private static Node Convert(GbnfNode node) => node switch
    {
        GbnfLiteral l => new Terminal(l.Position, Utf8Automata.Literal(l.Text)),
        GbnfCharacters c => new Terminal(c.Position, Utf8Automata.Set(c.Set)),
        GbnfRuleRef r => new RuleRef(r.Position, r.Name),
        GbnfSequence s => new Sequence(s.Position, s.Items.Select(Convert).ToList()),
        GbnfAlternatives a => new Alternatives(a.Position, a.Options.Select(Convert).ToList()),
        GbnfRepeat r => new Repeat(r.Position, Convert(r.Item), r.Min, r.Max),
        _ => throw new InvalidOperationException(node.ToString()),
    };

    // ---- lowering ----

    // Rules reachable from root that lie on a cycle of references (Tarjan's strongly connected components); an
    // undefined rule is an error where it is referenced.
    private HashSet<string> RecursiveRules()
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var low = new Dictionary<string, int>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        var recursive = new HashSet<string>(StringComparer.Ordinal);
        void Connect(string name)
        {
            index[name] = low[name] = index.Count;
            stack.Push(name);
            onStack.Add(name);
            foreach (var (reference, at) in References(_rules[name].Body))
            {
                if (!_rules.ContainsKey(reference)) throw Error(at, $"the rule '{reference}' is not defined");
                if (reference == name) recursive.Add(name);
                if (!index.ContainsKey(reference)) { Connect(reference); low[name] = Math.Min(low[name], low[reference]); }
                else if (onStack.Contains(reference)) low[name] = Math.Min(low[name], index[reference]);
            }
            if (low[name] != index[name]) return;
            var component = new List<string>();
            string member;
            do { member = stack.Pop(); onStack.Remove(member); component.Add(member); } while (member != name);
            if (component.Count > 1) recursive.UnionWith(component);
        }
        Connect("root");
        return recursive;
    }

    private static IEnumerable<(string Name, int Position)> References(Node node) => node switch
    {
        RuleRef r => [(r.Name, r.Position)],
        Sequence s => s.Items.SelectMany(References),
        Alternatives a => a.Options.SelectMany(References),
        Repeat r => References(r.Item),
        _ => [],
    };

    // The recursive rules and root become the pushdown automaton's rule DFAs, in the order they are defined (root
    // first); a reference to one of them is a call (char 256 + its index), every other rule is inlined.
    private PushdownAutomaton Pushdown(HashSet<string> recursive)
    {
        var machines = recursive.Where(r => r != "root").OrderBy(r => _rules[r].Position).Prepend("root").ToList();
        var call = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < machines.Count; i++) call[machines[i]] = i;
        var inlined = new Dictionary<string, Automaton>(StringComparer.Ordinal);
        Automaton Lowered(Node node) => node switch
        {
            Terminal t => t.Bytes.Clone(),
            RuleRef r when call.TryGetValue(r.Name, out int k) => BasicAutomata.MakeChar((char)(256 + k)),
            RuleRef r => Inline(r.Name),
            Sequence s => s.Items.Count == 0 ? BasicAutomata.MakeEmptyString() : BasicOperations.Concatenate(s.Items.Select(Lowered).ToList()),
            Alternatives a => BasicOperations.Union(a.Options.Select(Lowered).ToList()),
            Repeat r => r.Max < 0 ? BasicOperations.Repeat(Lowered(r.Item), r.Min) : BasicOperations.Repeat(Lowered(r.Item), r.Min, r.Max),
            _ => throw new InvalidOperationException(node.ToString()),
        };
        Automaton Inline(string name)
        {
            if (!inlined.TryGetValue(name, out var automaton))
            {
                // Not on a cycle, so inlining ends: every cycle passes through a rule that is called instead.
                automaton = Lowered(_rules[name].Body);
                automaton.Determinize();
                automaton.Minimize();
                inlined[name] = automaton;
            }
            return automaton.Clone();
        }
        var rules = machines.Select(m => new PushdownAutomaton.Rule(m, _rules[m].Position, Lowered(_rules[m].Body))).ToList();
        return PushdownAutomaton.Build(rules, 0, (at, reason) => Error(at, reason));
    }

    private Automaton Rule(string name, int referencedAt)
    {
        if (_compiled.TryGetValue(name, out var done)) return done.Clone();
        if (!_rules.TryGetValue(name, out var rule)) throw Error(referencedAt, $"the rule '{name}' is not defined");
        int cycle = _compiling.IndexOf(name);
        if (cycle >= 0)
            throw Error(referencedAt, $"the rule '{name}' is recursive ({string.Join(" -> ", _compiling.Skip(cycle).Append(name))}): " +
                                      "a recursive grammar has no DFA; GbnfGrammar.Lower (TokenConstraint.FromGbnf) compiles it to a pushdown automaton");
        _compiling.Add(name);
        var automaton = Lower(rule.Body);
        automaton.Determinize();
        automaton.Minimize();
        _compiling.RemoveAt(_compiling.Count - 1);
        _compiled[name] = automaton;
        return automaton.Clone();
    }

    private Automaton Lower(Node node) => node switch
    {
        Terminal t => t.Bytes.Clone(),
        RuleRef r => Rule(r.Name, r.Position),
        Sequence s => s.Items.Count == 0 ? BasicAutomata.MakeEmptyString() : BasicOperations.Concatenate(s.Items.Select(Lower).ToList()),
        Alternatives a => BasicOperations.Union(a.Options.Select(Lower).ToList()),
        Repeat r => r.Max < 0 ? BasicOperations.Repeat(Lower(r.Item), r.Min) : BasicOperations.Repeat(Lower(r.Item), r.Min, r.Max),
        _ => throw new InvalidOperationException(node.ToString()),
    };
}

/// <summary>A GBNF grammar compiled: exactly one of <see cref="Regular"/> (a byte automaton) and <see cref="Pushdown"/> is set.</summary>
public sealed record GbnfLowering(Automaton? Regular, PushdownAutomaton? Pushdown);
