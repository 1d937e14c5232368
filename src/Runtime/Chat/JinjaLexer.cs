using System.Text;

namespace Pardec.Runtime.Chat;

// Why Pardec has its own Jinja engine: chat templates are Jinja, and no .NET Jinja package is served to this project
// (see docs: ENVIRONMENT.md). Hugging Face's own JavaScript engine, @huggingface/jinja, defines the subset chat
// templates use; this engine follows it rule for rule (its lexer, precedence, value semantics and error cases), and
// tests/fixtures/chat-templates holds its renders, which ours must equal byte for byte.

internal enum JinjaTokenKind
{
    Text,
    NumericLiteral,
    StringLiteral,
    Identifier,
    Equals,
    OpenParen,
    CloseParen,
    OpenStatement,
    CloseStatement,
    OpenExpression,
    CloseExpression,
    OpenSquareBracket,
    CloseSquareBracket,
    OpenCurlyBracket,
    CloseCurlyBracket,
    Comma,
    Dot,
    Colon,
    Pipe,
    AdditiveOperator,        // + - ~
    MultiplicativeOperator,  // * / // %
    PowerOperator,           // **
    ComparisonOperator,      // < > <= >= == !=
    UnaryOperator,           // a sign before something that is not a number
    Comment,
}

/// <param name="Position">Offset of the token in the original template text (before whitespace control).</param>
internal readonly record struct JinjaToken(JinjaTokenKind Kind, string Value, int Position);

/// <summary>
/// Splits a template into text and tag tokens. Hugging Face renders chat templates with <c>trim_blocks</c> and
/// <c>lstrip_blocks</c>; like @huggingface/jinja those are applied to the text first (drop one trailing newline, drop
/// spaces before a block tag at a line start, drop the newline after a block tag, drop transformers'
/// <c>{% generation %}</c> markers), then <c>{%-</c>/<c>-%}</c> trim the neighbouring text while tokenising. Every
/// character keeps its offset in the original text so errors point into the template the user wrote.
/// </summary>
internal sealed class JinjaLexer
{
    private static readonly (string Text, JinjaTokenKind Kind)[] Symbols =
    [
        ("{%", JinjaTokenKind.OpenStatement), ("%}", JinjaTokenKind.CloseStatement),
        ("{{", JinjaTokenKind.OpenExpression), ("}}", JinjaTokenKind.CloseExpression),
        ("(", JinjaTokenKind.OpenParen), (")", JinjaTokenKind.CloseParen),
        ("{", JinjaTokenKind.OpenCurlyBracket), ("}", JinjaTokenKind.CloseCurlyBracket),
        ("[", JinjaTokenKind.OpenSquareBracket), ("]", JinjaTokenKind.CloseSquareBracket),
        (",", JinjaTokenKind.Comma), (".", JinjaTokenKind.Dot), (":", JinjaTokenKind.Colon), ("|", JinjaTokenKind.Pipe),
        ("<=", JinjaTokenKind.ComparisonOperator), (">=", JinjaTokenKind.ComparisonOperator),
        ("==", JinjaTokenKind.ComparisonOperator), ("!=", JinjaTokenKind.ComparisonOperator),
        ("<", JinjaTokenKind.ComparisonOperator), (">", JinjaTokenKind.ComparisonOperator),
        ("+", JinjaTokenKind.AdditiveOperator), ("-", JinjaTokenKind.AdditiveOperator), ("~", JinjaTokenKind.AdditiveOperator),
        ("**", JinjaTokenKind.PowerOperator), ("*", JinjaTokenKind.MultiplicativeOperator),
        ("//", JinjaTokenKind.MultiplicativeOperator), ("/", JinjaTokenKind.MultiplicativeOperator),
        ("%", JinjaTokenKind.MultiplicativeOperator),
        ("=", JinjaTokenKind.Equals),
    ];

    private readonly JinjaSource _source;
    private readonly string _src;      // the text after trim_blocks/lstrip_blocks
    private readonly int[] _origin;    // _origin[i]: offset of _src[i] in the original text
    private readonly List<JinjaToken> _tokens = [];
    private int _cursor;

    private JinjaLexer(JinjaSource source)
    {
        _source = source;
        (_src, _origin) = Preprocess(source.Text);
    }

    public static List<JinjaToken> Tokenize(JinjaSource source)
    {
        var lexer = new JinjaLexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    /// <summary>JavaScript's <c>\s</c> (and what <c>trim</c> removes): the reference's notion of white space.</summary>
    public static bool IsWhiteSpace(char c) => c switch
    {
        '\t' or '\n' or '\v' or '\f' or '\r' or ' ' or '\u00a0' or '\u1680' or '\u2028' or '\u2029' or '\u202f' or '\u205f'
            or '\u3000' or '\ufeff' => true,
        >= '\u2000' and <= '\u200a' => true,
        _ => false,
    };

    private static bool IsWord(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_';
    private static bool IsDigit(char c) => c is >= '0' and <= '9';

    private char At(int i) => i < _src.Length ? _src[i] : '\0';
    private bool StartsWith(string s) => string.CompareOrdinal(_src, _cursor, s, 0, s.Length) == 0 && _cursor + s.Length <= _src.Length;
    private int Origin(int i) => _src.Length == 0 ? 0 : i < _src.Length ? _origin[i] : _origin[^1] + 1;

    private ChatTemplateSyntaxException Error(string message, int at)
    {
        var (line, column) = _source.LineColumn(Origin(at));
        return new ChatTemplateSyntaxException(_source.Name, line, column, message);
    }

    private void Add(JinjaTokenKind kind, string value, int at) => _tokens.Add(new JinjaToken(kind, value, Origin(at)));
    private JinjaTokenKind? LastKind => _tokens.Count == 0 ? null : _tokens[^1].Kind;

    private void Run()
    {
        int curlyDepth = 0;
        while (_cursor < _src.Length)
        {
            if (LastKind is null or JinjaTokenKind.CloseStatement or JinjaTokenKind.CloseExpression or JinjaTokenKind.Comment)
            {
                int start = _cursor;
                while (_cursor < _src.Length && !(_src[_cursor] == '{' && At(_cursor + 1) is '%' or '{' or '#')) _cursor++;
                if (_cursor > start)
                {
                    Add(JinjaTokenKind.Text, _src[start.._cursor], start);
                    continue;
                }
            }

            if (StartsWith("{#"))
            {
                int open = _cursor;
                _cursor += 2;
                bool stripBefore = At(_cursor) == '-';
                if (stripBefore) _cursor++;
                int start = _cursor;
                while (At(_cursor) != '#' || At(_cursor + 1) != '}')
                {
                    if (_cursor + 2 >= _src.Length) throw Error("missing end of comment tag '#}'", open);
                    _cursor++;
                }
                string comment = _src[start.._cursor];
                bool stripAfter = comment.EndsWith('-');
                if (stripAfter) comment = comment[..^1];
                if (stripBefore) StripTrailingWhiteSpace();
                Add(JinjaTokenKind.Comment, comment, open);
                _cursor += 2;
                if (stripAfter) SkipWhiteSpace();
                continue;
            }
            if (StartsWith("{%-"))
            {
                StripTrailingWhiteSpace();
                Add(JinjaTokenKind.OpenStatement, "{%", _cursor);
                _cursor += 3;
                continue;
            }
            if (StartsWith("{{-"))
            {
                StripTrailingWhiteSpace();
                Add(JinjaTokenKind.OpenExpression, "{{", _cursor);
                curlyDepth = 0;
                _cursor += 3;
                continue;
            }

            ConsumeWhile(IsWhiteSpace);

            if (StartsWith("-%}"))
            {
                Add(JinjaTokenKind.CloseStatement, "%}", _cursor);
                _cursor += 3;
                SkipWhiteSpace();
                continue;
            }
            if (StartsWith("-}}"))
            {
                Add(JinjaTokenKind.CloseExpression, "}}", _cursor);
                _cursor += 3;
                SkipWhiteSpace();
                continue;
            }

            char c = At(_cursor);
            if (c is '-' or '+')
            {
                if (LastKind is null or JinjaTokenKind.Text) throw Error($"unexpected character '{c}'", _cursor);
                if (LastKind is not (JinjaTokenKind.Identifier or JinjaTokenKind.NumericLiteral or JinjaTokenKind.StringLiteral
                    or JinjaTokenKind.CloseParen or JinjaTokenKind.CloseSquareBracket))
                {
                    // A sign: (-1), [-1], not -x. A number right after it becomes a signed literal.
                    int at = _cursor++;
                    string number = ConsumeWhile(IsDigit);
                    if (number.Length > 0 && At(_cursor) == '.' && IsDigit(At(_cursor + 1)))
                    {
                        _cursor++;
                        number = number + "." + ConsumeWhile(IsDigit);
                    }
                    Add(number.Length > 0 ? JinjaTokenKind.NumericLiteral : JinjaTokenKind.UnaryOperator, c + number, at);
                    continue;
                }
            }

            if (MatchSymbol(ref curlyDepth)) continue;

            if (c is '\'' or '"')
            {
                int at = _cursor++;
                string text = ConsumeWhile(ch => ch != c, openedAt: at);
                Add(JinjaTokenKind.StringLiteral, text, at);
                _cursor++;
                continue;
            }
            if (IsDigit(c))
            {
                int at = _cursor;
                string number = ConsumeWhile(IsDigit);
                if (LastKind != JinjaTokenKind.Dot && At(_cursor) == '.' && IsDigit(At(_cursor + 1)))
                {
                    _cursor++;
                    number = number + "." + ConsumeWhile(IsDigit);
                }
                Add(JinjaTokenKind.NumericLiteral, number, at);
                continue;
            }
            if (IsWord(c))
            {
                int at = _cursor;
                Add(JinjaTokenKind.Identifier, ConsumeWhile(IsWord), at);
                continue;
            }
            throw Error($"unexpected character '{c}'", _cursor);
        }
    }

    private bool MatchSymbol(ref int curlyDepth)
    {
        foreach (var (text, kind) in Symbols)
        {
            if (text == "}}" && curlyDepth > 0) continue; // "}}" closes a dict literal inside an expression, not the tag
            if (!StartsWith(text)) continue;
            Add(kind, text, _cursor);
            if (kind == JinjaTokenKind.OpenExpression) curlyDepth = 0;
            else if (kind == JinjaTokenKind.OpenCurlyBracket) curlyDepth++;
            else if (kind == JinjaTokenKind.CloseCurlyBracket) curlyDepth--;
            _cursor += text.Length;
            return true;
        }
        return false;
    }

    // As the reference: escapes are decoded wherever a run is consumed, and a run that reaches the end of the text is
    // an error (an unterminated string, or a tag that never closes).
    private string ConsumeWhile(Func<char, bool> predicate, int? openedAt = null)
    {
        var text = new StringBuilder();
        int start = openedAt ?? _cursor;
        while (_cursor < _src.Length && predicate(_src[_cursor]))
        {
            if (_src[_cursor] == '\\')
            {
                int at = _cursor++;
                if (_cursor >= _src.Length) throw Error("unexpected end of template after '\\'", at);
                char escaped = _src[_cursor++];
                if (escaped is 'x' or 'u')
                {
                    int length = escaped == 'x' ? 2 : 4;
                    string hex = _cursor + length <= _src.Length ? _src.Substring(_cursor, length) : _src[_cursor..];
                    if (hex.Length != length || !hex.All(Uri.IsHexDigit))
                        throw Error($"invalid hexadecimal escape sequence: \\{escaped}{hex}", at);
                    text.Append((char)Convert.ToInt32(hex, 16));
                    _cursor += length;
                    continue;
                }
                text.Append(escaped switch
                {
                    'n' => '\n', 't' => '\t', 'r' => '\r', 'b' => '\b', 'f' => '\f', 'v' => '\v',
                    '\'' => '\'', '"' => '"', '\\' => '\\',
                    _ => throw Error($"unexpected escaped character: {escaped}", at),
                });
                continue;
            }
            text.Append(_src[_cursor++]);
            if (_cursor >= _src.Length) throw Error("unexpected end of template (a string or tag is not closed)", start);
        }
        return text.ToString();
    }

    private void StripTrailingWhiteSpace()
    {
        if (_tokens.Count == 0 || _tokens[^1].Kind != JinjaTokenKind.Text) return;
        var last = _tokens[^1];
        int end = last.Value.Length;
        while (end > 0 && IsWhiteSpace(last.Value[end - 1])) end--;
        if (end == 0) _tokens.RemoveAt(_tokens.Count - 1);
        else _tokens[^1] = last with { Value = last.Value[..end] };
    }

    private void SkipWhiteSpace()
    {
        while (_cursor < _src.Length && IsWhiteSpace(_src[_cursor])) _cursor++;
    }

    /// <summary>trim_blocks, lstrip_blocks and the generation markers, as @huggingface/jinja applies them (regular
    /// expressions over the whole text), keeping each surviving character's original offset.</summary>
    private static (string Text, int[] Origin) Preprocess(string template)
    {
        var chars = new List<(char C, int At)>(template.Length);
        for (int i = 0; i < template.Length; i++) chars.Add((template[i], i));
        if (chars.Count > 0 && chars[^1].C == '\n') chars.RemoveAt(chars.Count - 1);

        // lstrip_blocks: /^[ \t]*({[#%-])/gm -> "$1" (JavaScript's ^ also follows \r, U+2028 and U+2029)
        var stripped = new List<(char C, int At)>(chars.Count);
        for (int i = 0; i < chars.Count;)
        {
            bool lineStart = i == 0 || chars[i - 1].C is '\n' or '\r' or '\u2028' or '\u2029';
            if (lineStart)
            {
                int j = i;
                while (j < chars.Count && chars[j].C is ' ' or '\t') j++;
                if (j + 1 < chars.Count && chars[j].C == '{' && chars[j + 1].C is '#' or '%' or '-' && j > i) { i = j; continue; }
            }
            stripped.Add(chars[i]);
            i++;
        }

        // trim_blocks: /([#%-]})\n/g -> "$1"
        var trimmed = new List<(char C, int At)>(stripped.Count);
        for (int i = 0; i < stripped.Count; i++)
        {
            trimmed.Add(stripped[i]);
            if (stripped[i].C is '#' or '%' or '-' && i + 2 < stripped.Count && stripped[i + 1].C == '}' && stripped[i + 2].C == '\n')
            {
                trimmed.Add(stripped[i + 1]);
                i += 2;
            }
        }

        var result = RemoveGenerationTags(trimmed);
        return (new string(result.Select(c => c.C).ToArray()), result.Select(c => c.At).ToArray());
    }

    // transformers' {% generation %}…{% endgeneration %} marks assistant text for training masks; it renders nothing.
    // /(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs -> (lstrip ? "" : before) + (rstrip ? "" : after)
    private static List<(char C, int At)> RemoveGenerationTags(List<(char C, int At)> text)
    {
        var result = new List<(char C, int At)>(text.Count);
        int i = 0;
        while (i < text.Count)
        {
            int ws = i;
            while (ws < text.Count && IsWhiteSpace(text[ws].C)) ws++;
            if (MatchGenerationTag(text, ws) is { } tag)
            {
                int after = tag.End;
                while (after < text.Count && IsWhiteSpace(text[after].C)) after++;
                if (!tag.StripBefore) result.AddRange(text.GetRange(i, ws - i));
                if (!tag.StripAfter) result.AddRange(text.GetRange(tag.End, after - tag.End));
                i = after;
                continue;
            }
            result.Add(text[i]);
            i++;
        }
        return result;
    }

    private static (int End, bool StripBefore, bool StripAfter)? MatchGenerationTag(List<(char C, int At)> text, int i)
    {
        bool Is(int at, string s)
        {
            if (at + s.Length > text.Count) return false;
            for (int k = 0; k < s.Length; k++) if (text[at + k].C != s[k]) return false;
            return true;
        }
        if (!Is(i, "{%")) return null;
        int p = i + 2;
        bool stripBefore = Is(p, "-");
        if (stripBefore) p++;
        while (p < text.Count && IsWhiteSpace(text[p].C)) p++;
        if (Is(p, "end")) p += 3;
        if (!Is(p, "generation")) return null;
        p += "generation".Length;
        while (p < text.Count && IsWhiteSpace(text[p].C)) p++;
        bool stripAfter = Is(p, "-");
        if (stripAfter) p++;
        if (!Is(p, "%}")) return null;
        return (p + 2, stripBefore, stripAfter);
    }
}

/// <summary>A template's text and the name errors give it (a file path, or a name the caller chose).</summary>
internal sealed class JinjaSource(string text, string name)
{
    private int[]? _lineStarts;

    public string Text { get; } = text;
    public string Name { get; } = name;

    public (int Line, int Column) LineColumn(int offset)
    {
        _lineStarts ??= LineStarts(Text);
        int index = Array.BinarySearch(_lineStarts, offset);
        int line = index >= 0 ? index : ~index - 1;
        return (line + 1, offset - _lineStarts[line] + 1);
    }

    private static int[] LineStarts(string text)
    {
        var starts = new List<int> { 0 };
        for (int i = 0; i < text.Length; i++) if (text[i] == '\n') starts.Add(i + 1);
        return starts.ToArray();
    }
}
