using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace Pardec.Dsl.Constraints;

/// <summary>A parsed GBNF expression. Positions are offsets into the grammar text.</summary>
public abstract record GbnfNode(int Position);

/// <summary>A quoted terminal <c>"…"</c>, escapes decoded.</summary>
public sealed record GbnfLiteral(int Position, string Text) : GbnfNode(Position);

/// <summary>One character of a set: <c>[…]</c>, <c>[^…]</c> or <c>.</c>.</summary>
public sealed record GbnfCharacters(int Position, CodePointSet Set) : GbnfNode(Position);

public sealed record GbnfRuleRef(int Position, string Name) : GbnfNode(Position);

public sealed record GbnfSequence(int Position, IReadOnlyList<GbnfNode> Items) : GbnfNode(Position);

public sealed record GbnfAlternatives(int Position, IReadOnlyList<GbnfNode> Options) : GbnfNode(Position);

/// <summary><c>Item{Min,Max}</c>; <see cref="Max"/> −1 is unbounded.</summary>
public sealed record GbnfRepeat(int Position, GbnfNode Item, int Min, int Max) : GbnfNode(Position);

/// <summary>One rule: <c>name ::= body</c>, at the offset of its name.</summary>
public sealed record GbnfRule(string Name, int Position, GbnfNode Body);

/// <summary>A cycle of rule references reachable from <c>root</c>: the rule that closes it, where, and the path.</summary>
public sealed record GbnfCycle(string Rule, int Position, IReadOnlyList<string> Path)
{
    public string Describe() => string.Join(" -> ", Path);
}

/// <summary>A grammar's rules in the order they are defined, and the first recursion found from <c>root</c> (null: regular).</summary>
public sealed record GbnfSyntax(IReadOnlyList<GbnfRule> Rules, GbnfCycle? Recursion)
{
    public GbnfRule? Find(string name) => Rules.FirstOrDefault(r => r.Name == name);

    public bool IsRegular => Recursion is null;
}

/// <summary>
/// Parses llama.cpp's GBNF grammar format (<c>grammars/README.md</c> in llama.cpp): <c>name ::= alternatives</c>; a rule
/// ends at a newline unless inside parentheses or after <c>|</c> / <c>::=</c>; terminals <c>"…"</c> (escapes
/// <c>\n \r \t \\ \" \xHH \uHHHH \UHHHHHHHH</c>), <c>[…]</c> and <c>[^…]</c> character ranges, <c>.</c> any character;
/// grouping, <c>|</c>, <c>* + ?</c>, <c>{m} {m,} {m,n}</c>; <c>#</c> comments. The start rule is <c>root</c>; every
/// referenced rule must be defined. Token references (<c>&lt;[id]&gt;</c>, <c>&lt;think&gt;</c>) are not supported.
/// Shared by the front end (PDEC diagnostics in the grammar file, and whether it is regular) and the runtime, which
/// lowers the tree to automata.
/// </summary>
public sealed class GbnfParser
{
    private readonly string _text;
    private int _pos;

    private GbnfParser(string text) => _text = text;

    /// <exception cref="PatternSyntaxException">A syntax error, a rule defined twice, no <c>root</c>, or an undefined rule.</exception>
    public static GbnfSyntax Parse(string grammar)
    {
        var parser = new GbnfParser(grammar);
        var rules = parser.ParseRules();
        var byName = new Dictionary<string, GbnfRule>();
        foreach (var rule in rules)
        {
            if (byName.ContainsKey(rule.Name))
            {
                throw parser.Error(rule.Position, $"the rule '{rule.Name}' is defined twice");
            }

            byName[rule.Name] = rule;
        }

        if (!byName.ContainsKey("root"))
        {
            throw parser.Error(0, "the grammar has no 'root' rule");
        }

        foreach (var rule in rules)
        {
            foreach (var reference in References(rule.Body))
            {
                if (!byName.ContainsKey(reference.Name))
                {
                    throw parser.Error(reference.Position, $"the rule '{reference.Name}' is not defined");
                }
            }
        }

        return new GbnfSyntax(rules, FindCycle(byName));
    }

    /// <summary>Every rule reference under <paramref name="node"/>, in order.</summary>
    public static IEnumerable<GbnfRuleRef> References(GbnfNode node) => node switch
    {
        GbnfRuleRef r => new[] { r },
        GbnfSequence s => s.Items.SelectMany(References),
        GbnfAlternatives a => a.Options.SelectMany(References),
        GbnfRepeat r => References(r.Item),
        _ => Enumerable.Empty<GbnfRuleRef>(),
    };

    // Depth-first from root; the first reference back to a rule on the current path closes a cycle.
    private static GbnfCycle? FindCycle(Dictionary<string, GbnfRule> rules)
    {
        var path = new List<string>();
        var done = new HashSet<string>();
        GbnfCycle? Visit(string name)
        {
            path.Add(name);
            foreach (var reference in References(rules[name].Body))
            {
                int at = path.IndexOf(reference.Name);
                if (at >= 0)
                {
                    return new GbnfCycle(reference.Name, reference.Position, path.Skip(at).Concat(new[] { reference.Name }).ToList());
                }

                if (!done.Contains(reference.Name) && Visit(reference.Name) is { } cycle)
                {
                    return cycle;
                }
            }

            path.RemoveAt(path.Count - 1);
            done.Add(name);
            return null;
        }

        return Visit("root");
    }

    private PatternSyntaxException Error(int at, string reason) => new(PatternLanguage.Gbnf, at, reason);

    private List<GbnfRule> ParseRules()
    {
        var rules = new List<GbnfRule>();
        SkipSpace(newlines: true);
        while (_pos < _text.Length)
        {
            int start = _pos;
            string name = Name();
            if (name.Length == 0)
            {
                throw Error(_pos, $"expected a rule name, found '{Peek()}'");
            }

            SkipSpace(newlines: false);
            if (string.CompareOrdinal(_text, _pos, "::=", 0, 3) != 0)
            {
                throw Error(_pos, "expected '::=' after the rule name");
            }

            _pos += 3;
            SkipSpace(newlines: true);
            var body = ParseAlternatives(nested: false);
            rules.Add(new GbnfRule(name, start, body));
            if (_pos < _text.Length && _text[_pos] != '\n' && _text[_pos] != '\r')
            {
                throw Error(_pos, $"expected the end of the rule (a newline), found '{Peek()}'");
            }

            SkipSpace(newlines: true);
        }

        return rules;
    }

    private string Peek() => _pos < _text.Length ? _text[_pos].ToString() : "end of input";

    private static bool IsNameChar(char c) => RegexParser.IsAsciiLetterOrDigit(c) || c == '-' || c == '_';

    private string Name()
    {
        int start = _pos;
        while (_pos < _text.Length && IsNameChar(_text[_pos]))
        {
            _pos++;
        }

        return _text.Substring(start, _pos - start);
    }

    private void SkipSpace(bool newlines)
    {
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r')))
            {
                _pos++;
            }
            else if (c == '#')
            {
                while (_pos < _text.Length && _text[_pos] != '\n' && _text[_pos] != '\r')
                {
                    _pos++;
                }
            }
            else
            {
                break;
            }
        }
    }

    private GbnfNode ParseAlternatives(bool nested)
    {
        int start = _pos;
        var options = new List<GbnfNode> { ParseSequence(nested) };
        while (_pos < _text.Length && _text[_pos] == '|')
        {
            _pos++;
            SkipSpace(newlines: true);
            options.Add(ParseSequence(nested));
        }

        return options.Count == 1 ? options[0] : new GbnfAlternatives(start, options);
    }

    private GbnfNode ParseSequence(bool nested)
    {
        int start = _pos;
        var items = new List<GbnfNode>();
        while (_pos < _text.Length)
        {
            int at = _pos;
            char c = _text[_pos];
            GbnfNode item;
            if (c == '"')
            {
                item = new GbnfLiteral(at, Literal());
            }
            else if (c == '[')
            {
                item = new GbnfCharacters(at, CharClass());
            }
            else if (c == '.')
            {
                _pos++;
                item = new GbnfCharacters(at, CodePointSet.All);
            }
            else if (c == '(')
            {
                _pos++;
                SkipSpace(newlines: true);
                item = ParseAlternatives(nested: true);
                if (_pos >= _text.Length || _text[_pos] != ')')
                {
                    throw Error(at, "missing ')' for this '('");
                }

                _pos++;
            }
            else if (IsNameChar(c))
            {
                item = new GbnfRuleRef(at, Name());
            }
            else if (c == '<')
            {
                throw Error(at, "token references ('<[id]>', '<name>') are not supported");
            }
            else if (c is '*' or '+' or '?' or '{')
            {
                throw Error(at, $"'{c}' has nothing to repeat");
            }
            else
            {
                break;
            }

            SkipSpace(nested);
            while (_pos < _text.Length && _text[_pos] is '*' or '+' or '?' or '{')
            {
                int q = _pos;
                char op = _text[_pos];
                int min, max;
                if (op == '{')
                {
                    (min, max) = Braces();
                }
                else
                {
                    _pos++;
                    (min, max) = op == '*' ? (0, -1) : op == '+' ? (1, -1) : (0, 1);
                }

                if (max >= 0 && max < min)
                {
                    throw Error(q, $"the maximum {max} is below the minimum {min}");
                }

                if (min > RegexParser.MaxRepeat || max > RegexParser.MaxRepeat)
                {
                    throw Error(q, $"at most {RegexParser.MaxRepeat} repetitions are supported");
                }

                item = new GbnfRepeat(q, item, min, max);
                SkipSpace(nested);
            }

            items.Add(item);
        }

        return items.Count == 1 ? items[0] : new GbnfSequence(start, items);
    }

    private (int Min, int Max) Braces()
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
            max = _pos < _text.Length && RegexParser.IsDigit(_text[_pos]) ? Digits(open) : -1;
            SkipSpace(false);
        }

        if (_pos >= _text.Length || _text[_pos] != '}')
        {
            throw Error(open, "expected '}' to close this '{'");
        }

        _pos++;
        return (min, max);
    }

    private int Digits(int at)
    {
        int start = _pos;
        while (_pos < _text.Length && RegexParser.IsDigit(_text[_pos]))
        {
            _pos++;
        }

        if (start == _pos || !int.TryParse(_text.Substring(start, _pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out int value))
        {
            throw Error(at, "expected a repetition count");
        }

        return value;
    }

    private string Literal()
    {
        int open = _pos++;
        var text = new StringBuilder();
        while (true)
        {
            if (_pos >= _text.Length || _text[_pos] == '\n')
            {
                throw Error(open, "unterminated string literal");
            }

            if (_text[_pos] == '"')
            {
                _pos++;
                break;
            }

            text.Append(char.ConvertFromUtf32(Char()));
        }

        return text.ToString();
    }

    // One (possibly escaped) character of a literal or class, as a code point.
    private int Char()
    {
        int at = _pos;
        char c = _text[_pos];
        if (c != '\\')
        {
            int cp = char.IsHighSurrogate(c) && _pos + 1 < _text.Length && char.IsLowSurrogate(_text[_pos + 1]) ? char.ConvertToUtf32(c, _text[_pos + 1]) : c;
            if (cp >= 0xD800 && cp <= 0xDFFF)
            {
                throw Error(at, "a lone surrogate is not a character");
            }

            _pos += cp > 0xFFFF ? 2 : 1;
            return cp;
        }

        _pos++;
        if (_pos >= _text.Length)
        {
            throw Error(at, "the grammar ends in a lone '\\'");
        }

        char e = _text[_pos++];
        return e switch
        {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            '\\' => '\\',
            '"' => '"',
            '[' => '[',
            ']' => ']',
            '-' => '-',
            '^' => '^',
            'x' => Hex(at, 2),
            'u' => Hex(at, 4),
            'U' => Hex(at, 8),
            _ => throw Error(at, $"unknown escape '\\{e}'"),
        };
    }

    private int Hex(int at, int digits)
    {
        if (_pos + digits > _text.Length || !int.TryParse(_text.Substring(_pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int value))
        {
            throw Error(at, $"expected {digits} hexadecimal digits");
        }

        _pos += digits;
        if (value > CodePointSet.MaxCodePoint || value < 0)
        {
            throw Error(at, "code point above U+10FFFF");
        }

        if (value >= 0xD800 && value <= 0xDFFF)
        {
            throw Error(at, "a surrogate code point is not a character");
        }

        return value;
    }

    private CodePointSet CharClass()
    {
        int open = _pos++;
        bool negate = _pos < _text.Length && _text[_pos] == '^';
        if (negate)
        {
            _pos++;
        }

        var set = new CodePointSet();
        while (true)
        {
            if (_pos >= _text.Length || _text[_pos] == '\n')
            {
                throw Error(open, "missing ']' for this '['");
            }

            if (_text[_pos] == ']')
            {
                _pos++;
                break;
            }

            int item = _pos;
            int lo = Char();
            if (_pos + 1 < _text.Length && _text[_pos] == '-' && _text[_pos + 1] != ']')
            {
                _pos++;
                int hi = Char();
                if (hi < lo)
                {
                    throw Error(item, $"range out of order: U+{lo:X4} > U+{hi:X4}");
                }

                set.Add(lo, hi);
            }
            else
            {
                set.Add(lo, lo);
            }
        }

        return negate ? set.Complement() : set;
    }
}
