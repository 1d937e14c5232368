using System.Collections.Generic;
using System.Globalization;

namespace Pardec.Dsl.Constraints;

/// <summary>A parsed regular expression: what the runtime lowers to a byte automaton. Positions are offsets into the pattern.</summary>
public abstract record RegexNode(int Position);

/// <summary>One code point of a set: a literal, a class <c>[…]</c>, <c>.</c> or an escape such as <c>\d</c>.</summary>
public sealed record RegexSet(int Position, CodePointSet Set) : RegexNode(Position);

/// <summary>The empty string (an empty branch or group).</summary>
public sealed record RegexEmpty(int Position) : RegexNode(Position);

public sealed record RegexConcat(int Position, IReadOnlyList<RegexNode> Parts) : RegexNode(Position);

public sealed record RegexAlternation(int Position, IReadOnlyList<RegexNode> Branches) : RegexNode(Position);

/// <summary><c>Item{Min,Max}</c>; <see cref="Max"/> −1 is unbounded.</summary>
public sealed record RegexRepeat(int Position, RegexNode Item, int Min, int Max) : RegexNode(Position);

/// <summary>
/// Parses a regular expression in the common (ECMAScript / Python <c>re</c>) syntax, matched <em>in full</em>
/// (<c>fullmatch</c>: a leading <c>^</c> and a trailing <c>$</c> are allowed and change nothing).
/// <para>
/// Supported: literals, <c>.</c> (any character but <c>\n</c>), classes <c>[…]</c> / <c>[^…]</c> with ranges,
/// <c>\d \D \w \W \s \S</c>, escapes <c>\n \r \t \f \v \0 \xHH \uHHHH \u{H…}</c>, groups <c>(…)</c>, <c>(?:…)</c>,
/// <c>(?&lt;name&gt;…)</c>, alternation, <c>* + ?</c> and <c>{n} {n,} {n,m}</c> (lazy forms accepted: they match the same
/// strings). Not regular, or not meaningful for a whole-output match, and so errors: backreferences, lookaround,
/// anchors inside the pattern, <c>\b</c>.
/// </para>
/// Written for constrained decoding rather than taken from a library: the runtime's automaton library (Fare) reads
/// dk.brics syntax, in which a pattern written for Outlines, OpenAI or llama.cpp means something else, and its errors
/// carry no position. This parser is shared by the front end (PDEC diagnostics) and the runtime (the automaton).
/// </summary>
public sealed class RegexParser
{
    /// <summary>Most repetitions a bounded quantifier may ask for: a DFA for <c>a{100000}</c> has that many states.</summary>
    public const int MaxRepeat = 1000;

    private readonly string _pattern;
    private int _pos;

    private RegexParser(string pattern) => _pattern = pattern;

    /// <exception cref="PatternSyntaxException">The pattern is not valid, or uses a construct that is not supported.</exception>
    public static RegexNode Parse(string pattern)
    {
        var parser = new RegexParser(pattern);
        int start = 0, end = pattern.Length;
        if (end > 0 && pattern[0] == '^')
        {
            start = 1;
        }

        if (end > start && pattern[end - 1] == '$' && !IsEscaped(pattern, end - 1))
        {
            end--;
        }

        parser._pos = start;
        var result = parser.Alternation(end);
        if (parser._pos < end)
        {
            throw parser.Error(parser._pos, parser._pattern[parser._pos] == ')' ? "unbalanced ')'" : $"unexpected '{parser._pattern[parser._pos]}'");
        }

        return result;
    }

    private static bool IsEscaped(string s, int at)
    {
        int slashes = 0;
        for (int i = at - 1; i >= 0 && s[i] == '\\'; i--)
        {
            slashes++;
        }

        return slashes % 2 == 1;
    }

    private PatternSyntaxException Error(int at, string reason) => new(PatternLanguage.Regex, at, reason);

    private RegexNode Alternation(int end)
    {
        int start = _pos;
        var branches = new List<RegexNode> { Concatenation(end) };
        while (_pos < end && _pattern[_pos] == '|')
        {
            _pos++;
            branches.Add(Concatenation(end));
        }

        return branches.Count == 1 ? branches[0] : new RegexAlternation(start, branches);
    }

    private RegexNode Concatenation(int end)
    {
        int start = _pos;
        var parts = new List<RegexNode>();
        while (_pos < end && _pattern[_pos] != '|' && _pattern[_pos] != ')')
        {
            parts.Add(Quantified(end));
        }

        return parts.Count == 0 ? new RegexEmpty(start) : parts.Count == 1 ? parts[0] : new RegexConcat(start, parts);
    }

    private RegexNode Quantified(int end)
    {
        var atom = Atom(end);
        while (_pos < end)
        {
            char c = _pattern[_pos];
            int quantifierAt = _pos;
            int min, max; // max -1 = unbounded
            if (c == '*') { min = 0; max = -1; _pos++; }
            else if (c == '+') { min = 1; max = -1; _pos++; }
            else if (c == '?') { min = 0; max = 1; _pos++; }
            else if (c == '{' && TryBraces(end, out min, out max)) { }
            else
            {
                break;
            }

            if (_pos < end && _pattern[_pos] == '?')
            {
                _pos++; // lazy: the same language
            }
            else if (_pos < end && _pattern[_pos] == '+')
            {
                throw Error(_pos, "possessive quantifiers are not supported");
            }

            if (max >= 0 && max < min)
            {
                throw Error(quantifierAt, $"the quantifier's maximum {max} is below its minimum {min}");
            }

            if (min > MaxRepeat || max > MaxRepeat)
            {
                throw Error(quantifierAt, $"at most {MaxRepeat} repetitions are supported");
            }

            atom = new RegexRepeat(quantifierAt, atom, min, max);
        }

        return atom;
    }

    // {n}, {n,}, {n,m}; anything else is a literal '{' (as in Python and ECMAScript without the u flag).
    private bool TryBraces(int end, out int min, out int max)
    {
        min = max = 0;
        int p = _pos + 1;
        int a = p;
        while (p < end && IsDigit(_pattern[p]))
        {
            p++;
        }

        if (p == a)
        {
            return false;
        }

        if (!int.TryParse(_pattern.Substring(a, p - a), NumberStyles.None, CultureInfo.InvariantCulture, out min))
        {
            throw Error(a, "repetition count too large");
        }

        if (p < end && _pattern[p] == '}')
        {
            max = min;
            _pos = p + 1;
            return true;
        }

        if (p >= end || _pattern[p] != ',')
        {
            return false;
        }

        p++;
        int b = p;
        while (p < end && IsDigit(_pattern[p]))
        {
            p++;
        }

        if (p >= end || _pattern[p] != '}')
        {
            return false;
        }

        if (p == b)
        {
            max = -1;
        }
        else if (!int.TryParse(_pattern.Substring(b, p - b), NumberStyles.None, CultureInfo.InvariantCulture, out max))
        {
            throw Error(b, "repetition count too large");
        }

        _pos = p + 1;
        return true;
    }

    private RegexNode Atom(int end)
    {
        int at = _pos;
        char c = _pattern[_pos];
        switch (c)
        {
            case '(':
            {
                int open = _pos++;
                if (_pos < end && _pattern[_pos] == '?')
                {
                    _pos++;
                    if (_pos < end && _pattern[_pos] == ':')
                    {
                        _pos++;
                    }
                    else if (_pos < end && (_pattern[_pos] == 'P' || _pattern[_pos] == '<') && !(_pattern[_pos] == '<' && _pos + 1 < end && (_pattern[_pos + 1] is '=' or '!')))
                    {
                        if (_pattern[_pos] == 'P')
                        {
                            _pos++;
                        }

                        if (_pos >= end || _pattern[_pos] != '<')
                        {
                            throw Error(_pos, "expected '<' after '(?P'");
                        }

                        int close = _pattern.IndexOf('>', _pos);
                        if (close < 0 || close >= end)
                        {
                            throw Error(_pos, "unterminated group name");
                        }

                        _pos = close + 1;
                    }
                    else
                    {
                        throw Error(open, "lookaround, inline flags and other '(?' groups are not supported (only '(?:', '(?<name>' and '(?P<name>')");
                    }
                }

                var inner = Alternation(end);
                if (_pos >= end || _pattern[_pos] != ')')
                {
                    throw Error(open, "missing ')' for this '('");
                }

                _pos++;
                return inner;
            }

            case ')': throw Error(_pos, "unbalanced ')'");
            case '*' or '+' or '?': throw Error(_pos, $"'{c}' has nothing to repeat");
            case '[': return new RegexSet(at, Class(end));
            case '.': _pos++; return new RegexSet(at, CodePointSet.Of('\n').Complement());
            case '^' or '$': throw Error(_pos, $"'{c}' is only supported at the start / end of the whole pattern (the output is matched in full)");
            case '\\': return new RegexSet(at, Escape(end, inClass: false));
            default:
            {
                int cp = CodePointAt(_pattern, _pos);
                _pos += char.IsHighSurrogate(c) && _pos + 1 < _pattern.Length ? 2 : 1;
                return new RegexSet(at, CodePointSet.Of(cp));
            }
        }
    }

    private static int CodePointAt(string s, int i) =>
        char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? char.ConvertToUtf32(s[i], s[i + 1]) : s[i];

    private CodePointSet Class(int end)
    {
        int open = _pos++;
        bool negate = false;
        if (_pos < end && _pattern[_pos] == '^')
        {
            negate = true;
            _pos++;
        }

        var set = new CodePointSet();
        bool first = true;
        while (true)
        {
            if (_pos >= end)
            {
                throw Error(open, "missing ']' for this '['");
            }

            char c = _pattern[_pos];
            if (c == ']' && !first)
            {
                _pos++;
                break;
            }

            first = false;
            int itemAt = _pos;
            var lo = ClassAtom(end, out bool single, out int loCp);
            if (single && _pos + 1 < end && _pattern[_pos] == '-' && _pattern[_pos + 1] != ']')
            {
                _pos++;
                ClassAtom(end, out bool hiSingle, out int hiCp);
                if (!hiSingle)
                {
                    throw Error(itemAt, "a range cannot end in a class escape such as \\d");
                }

                if (hiCp < loCp)
                {
                    throw Error(itemAt, $"range out of order: U+{loCp:X4} > U+{hiCp:X4}");
                }

                set.Add(loCp, hiCp);
            }
            else
            {
                set.AddAll(lo);
            }
        }

        return negate ? set.Complement() : set;
    }

    private CodePointSet ClassAtom(int end, out bool single, out int codePoint)
    {
        char c = _pattern[_pos];
        if (c == '\\')
        {
            int at = _pos;
            var set = Escape(end, inClass: true);
            single = set.Ranges.Count == 1 && set.Ranges[0].Lo == set.Ranges[0].Hi && !IsClassEscape(at);
            codePoint = single ? set.Ranges[0].Lo : -1;
            return set;
        }

        codePoint = CodePointAt(_pattern, _pos);
        _pos += char.IsHighSurrogate(c) && _pos + 1 < _pattern.Length ? 2 : 1;
        single = true;
        return CodePointSet.Of(codePoint);
    }

    private bool IsClassEscape(int at) => at + 1 < _pattern.Length && "dDwWsS".IndexOf(_pattern[at + 1]) >= 0;

    private static readonly CodePointSet Digits = CodePointSet.Range('0', '9');
    private static readonly CodePointSet Word = new CodePointSet().Add('0', '9').Add('A', 'Z').Add('a', 'z').Add('_', '_');
    private static readonly CodePointSet Space = new CodePointSet().Add(' ', ' ').Add('\t', '\r');

    private CodePointSet Escape(int end, bool inClass)
    {
        int at = _pos++;
        if (_pos >= end)
        {
            throw Error(at, "the pattern ends in a lone '\\'");
        }

        char c = _pattern[_pos++];
        switch (c)
        {
            case 'd': return new CodePointSet().AddAll(Digits);
            case 'D': return Digits.Complement();
            case 'w': return new CodePointSet().AddAll(Word);
            case 'W': return Word.Complement();
            case 's': return new CodePointSet().AddAll(Space);
            case 'S': return Space.Complement();
            case 'n': return CodePointSet.Of('\n');
            case 'r': return CodePointSet.Of('\r');
            case 't': return CodePointSet.Of('\t');
            case 'f': return CodePointSet.Of('\f');
            case 'v': return CodePointSet.Of('\v');
            case '0': return CodePointSet.Of(0);
            case 'b' when inClass: return CodePointSet.Of('\b');
            case 'b' or 'B' or 'A' or 'Z' or 'z' or 'G': throw Error(at, $"the assertion '\\{c}' is not supported");
            case 'x': return CodePointSet.Of(Hex(at, 2, 2));
            case 'u':
                if (_pos < end && _pattern[_pos] == '{')
                {
                    _pos++;
                    int close = _pattern.IndexOf('}', _pos);
                    if (close < 0 || close >= end)
                    {
                        throw Error(at, "missing '}' in '\\u{…}'");
                    }

                    int digits = close - _pos;
                    if (digits == 0 || digits > 6)
                    {
                        throw Error(at, "expected 1 to 6 hexadecimal digits in '\\u{…}'");
                    }

                    int cp = Hex(at, digits, digits);
                    _pos = close + 1;
                    if (cp > CodePointSet.MaxCodePoint)
                    {
                        throw Error(at, "code point above U+10FFFF");
                    }

                    return CodePointSet.Of(cp);
                }

                return CodePointSet.Of(Hex(at, 4, 4));
            case 'p' or 'P': throw Error(at, "Unicode property classes ('\\p{…}') are not supported");
            case 'k': throw Error(at, "backreferences are not regular and are not supported");
            default:
                if (c >= '1' && c <= '9')
                {
                    throw Error(at, "backreferences are not regular and are not supported");
                }

                if (IsAsciiLetterOrDigit(c))
                {
                    throw Error(at, $"unknown escape '\\{c}'");
                }

                return CodePointSet.Of(c);
        }
    }

    private int Hex(int at, int min, int max)
    {
        int value = 0, n = 0;
        while (n < max && _pos < _pattern.Length && IsHexDigit(_pattern[_pos]))
        {
            value = (value * 16) + HexValue(_pattern[_pos]);
            _pos++;
            n++;
        }

        if (n < min)
        {
            throw Error(at, $"expected {min} hexadecimal digits");
        }

        return value;
    }

    internal static bool IsDigit(char c) => c >= '0' && c <= '9';

    internal static bool IsAsciiLetterOrDigit(char c) => IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

    internal static bool IsHexDigit(char c) => IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

    internal static int HexValue(char c) => IsDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}
