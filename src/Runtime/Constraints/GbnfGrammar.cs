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
    private int _pos;
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

    private void ParseRules()
    {
        SkipSpace(newlines: true);
        while (_pos < _text.Length)
        {
            int start = _pos;
            string name = Name();
            if (name.Length == 0) throw Error(_pos, $"expected a rule name, found '{Peek()}'");
            SkipSpace(newlines: false);
            if (!_text.AsSpan(_pos).StartsWith("::=")) throw Error(_pos, "expected '::=' after the rule name");
            _pos += 3;
            SkipSpace(newlines: true);
            var body = ParseAlternatives(nested: false);
            if (_rules.ContainsKey(name)) throw Error(start, $"the rule '{name}' is defined twice");
            _rules[name] = (body, start);
            if (_pos < _text.Length && _text[_pos] != '\n' && _text[_pos] != '\r') throw Error(_pos, $"expected the end of the rule (a newline), found '{Peek()}'");
            SkipSpace(newlines: true);
        }
    }

    private string Peek() => _pos < _text.Length ? _text[_pos].ToString() : "end of input";

    private string Name()
    {
        int start = _pos;
        while (_pos < _text.Length && (char.IsAsciiLetterOrDigit(_text[_pos]) || _text[_pos] == '-' || _text[_pos] == '_')) _pos++;
        return _text[start.._pos];
    }

    private void SkipSpace(bool newlines)
    {
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) _pos++;
            else if (c == '#') { while (_pos < _text.Length && _text[_pos] != '\n' && _text[_pos] != '\r') _pos++; }
            else break;
        }
    }

    private Node ParseAlternatives(bool nested)
    {
        int start = _pos;
        var options = new List<Node> { ParseSequence(nested) };
        while (_pos < _text.Length && _text[_pos] == '|')
        {
            _pos++;
            SkipSpace(newlines: true);
            options.Add(ParseSequence(nested));
        }
        return options.Count == 1 ? options[0] : new Alternatives(start, options);
    }

    private Node ParseSequence(bool nested)
    {
        int start = _pos;
        var items = new List<Node>();
        while (_pos < _text.Length)
        {
            int at = _pos;
            char c = _text[_pos];
            Node item;
            if (c == '"') item = new Terminal(at, Literal());
            else if (c == '[') item = new Terminal(at, Utf8Automata.Set(CharClass()));
            else if (c == '.') { _pos++; item = new Terminal(at, Utf8Automata.Set(CodePointSet.All)); }
            else if (c == '(')
            {
                _pos++;
                SkipSpace(newlines: true);
                item = ParseAlternatives(nested: true);
                if (_pos >= _text.Length || _text[_pos] != ')') throw Error(at, "missing ')' for this '('");
                _pos++;
            }
            else if (char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_') item = new RuleRef(at, Name());
            else if (c == '<') throw Error(at, "token references ('<[id]>', '<name>') are not supported");
            else if (c is '*' or '+' or '?' or '{') throw Error(at, $"'{c}' has nothing to repeat");
            else break;
            SkipSpace(nested);
            while (_pos < _text.Length && _text[_pos] is '*' or '+' or '?' or '{')
            {
                int q = _pos;
                char op = _text[_pos];
                int min, max;
                if (op == '{') (min, max) = Braces();
                else { _pos++; (min, max) = op == '*' ? (0, -1) : op == '+' ? (1, -1) : (0, 1); }
                if (max >= 0 && max < min) throw Error(q, $"the maximum {max} is below the minimum {min}");
                if (min > RegexCompiler.MaxRepeat || max > RegexCompiler.MaxRepeat) throw Error(q, $"at most {RegexCompiler.MaxRepeat} repetitions are supported");
                item = new Repeat(q, item, min, max);
                SkipSpace(nested);
            }
            items.Add(item);
        }
        return items.Count == 1 ? items[0] : new Sequence(start, items);
    }

    private (int, int) Braces()
    {
        int open = _pos++;
        SkipSpace(false);
        int min = Digits(open);
        SkipSpace(false);
        int max = min;
        if (_pos < _text.Length && _text[_pos] == ',')
        {
            _pos++;
            SkipSpace(false);
            max = _pos < _text.Length && char.IsAsciiDigit(_text[_pos]) ? Digits(open) : -1;
            SkipSpace(false);
        }
        if (_pos >= _text.Length || _text[_pos] != '}') throw Error(open, "expected '}' to close this '{'");
        _pos++;
        return (min, max);
    }

    private int Digits(int at)
    {
        int start = _pos;
        while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos])) _pos++;
        if (start == _pos || !int.TryParse(_text.AsSpan(start, _pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out int value))
            throw Error(at, "expected a repetition count");
        return value;
    }

    private Automaton Literal()
    {
        int open = _pos++;
        var text = new System.Text.StringBuilder();
        while (true)
        {
            if (_pos >= _text.Length || _text[_pos] == '\n') throw Error(open, "unterminated string literal");
            char c = _text[_pos];
            if (c == '"') { _pos++; break; }
            text.Append(char.ConvertFromUtf32(Char()));
        }
        return Utf8Automata.Literal(text.ToString());
    }

    // One (possibly escaped) character of a literal or class, as a code point.
    private int Char()
    {
        int at = _pos;
        char c = _text[_pos];
        if (c != '\\')
        {
            int cp = char.IsHighSurrogate(c) && _pos + 1 < _text.Length ? char.ConvertToUtf32(c, _text[_pos + 1]) : c;
            _pos += cp > 0xFFFF ? 2 : 1;
            return cp;
        }
        _pos++;
        if (_pos >= _text.Length) throw Error(at, "the grammar ends in a lone '\\'");
        char e = _text[_pos++];
        return e switch
        {
            'n' => '\n', 'r' => '\r', 't' => '\t', '\\' => '\\', '"' => '"', '[' => '[', ']' => ']', '-' => '-', '^' => '^',
            'x' => Hex(at, 2), 'u' => Hex(at, 4), 'U' => Hex(at, 8),
            _ => throw Error(at, $"unknown escape '\\{e}'"),
        };
    }

    private int Hex(int at, int digits)
    {
        if (_pos + digits > _text.Length || !int.TryParse(_text.AsSpan(_pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int value))
            throw Error(at, $"expected {digits} hexadecimal digits");
        _pos += digits;
        if (value > CodePointSet.MaxCodePoint) throw Error(at, "code point above U+10FFFF");
        return value;
    }

    private CodePointSet CharClass()
    {
        int open = _pos++;
        bool negate = _pos < _text.Length && _text[_pos] == '^';
        if (negate) _pos++;
        var set = new CodePointSet();
        while (true)
        {
            if (_pos >= _text.Length || _text[_pos] == '\n') throw Error(open, "missing ']' for this '['");
            if (_text[_pos] == ']') { _pos++; break; }
            int item = _pos;
            int lo = Char();
            if (_pos + 1 < _text.Length && _text[_pos] == '-' && _text[_pos + 1] != ']')
            {
                _pos++;
                int hi = Char();
                if (hi < lo) throw Error(item, $"range out of order: U+{lo:X4} > U+{hi:X4}");
                set.Add(lo, hi);
            }
            else set.Add(lo, lo);
        }
        return negate ? set.Complement() : set;
    }

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
