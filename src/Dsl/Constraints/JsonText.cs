using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace Pardec.Dsl.Constraints;

public enum JsonKind
{
    Object,
    Array,
    String,
    Number,
    True,
    False,
    Null,
}

/// <summary>
/// A JSON value with the offset it starts at: what the schema lowering reads, so an unsupported keyword is reported at
/// its place in the file. Members keep their order (a schema's properties are emitted in the order they are declared).
/// </summary>
public sealed class JsonValue
{
    internal JsonValue(JsonKind kind, int position, string raw, string? text = null,
                       List<JsonMember>? members = null, List<JsonValue>? items = null)
    {
        Kind = kind;
        Position = position;
        Raw = raw;
        Text = text;
        Members = members ?? new List<JsonMember>();
        Items = items ?? new List<JsonValue>();
    }

    public JsonKind Kind { get; }

    /// <summary>0-based offset of the value's first character.</summary>
    public int Position { get; }

    /// <summary>The value's JSON text as written (for numbers and literals: the token).</summary>
    public string Raw { get; }

    /// <summary>A string's value (escapes decoded), or a number's token.</summary>
    public string? Text { get; }

    public IReadOnlyList<JsonMember> Members { get; }

    public IReadOnlyList<JsonValue> Items { get; }

    public JsonMember? Member(string name) => Members.FirstOrDefault(m => m.Name == name);

    public JsonValue? this[string name] => Member(name)?.Value;

    /// <summary>The value as JSON with no insignificant whitespace and only the escapes JSON requires.</summary>
    public string Canonical()
    {
        var b = new StringBuilder();
        Write(b);
        return b.ToString();
    }

    private void Write(StringBuilder b)
    {
        switch (Kind)
        {
            case JsonKind.Object:
                b.Append('{');
                for (int i = 0; i < Members.Count; i++)
                {
                    if (i > 0)
                    {
                        b.Append(',');
                    }

                    b.Append(Quote(Members[i].Name)).Append(':');
                    Members[i].Value.Write(b);
                }

                b.Append('}');
                break;
            case JsonKind.Array:
                b.Append('[');
                for (int i = 0; i < Items.Count; i++)
                {
                    if (i > 0)
                    {
                        b.Append(',');
                    }

                    Items[i].Write(b);
                }

                b.Append(']');
                break;
            case JsonKind.String:
                b.Append(Quote(Text!));
                break;
            default:
                b.Append(Raw);
                break;
        }
    }

    /// <summary>A string as a JSON literal, escaping only what JSON requires (quote, backslash, control characters).</summary>
    public static string Quote(string text)
    {
        var b = new StringBuilder(text.Length + 2).Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"': b.Append("\\\""); break;
                case '\\': b.Append("\\\\"); break;
                case '\n': b.Append("\\n"); break;
                case '\r': b.Append("\\r"); break;
                case '\t': b.Append("\\t"); break;
                case '\b': b.Append("\\b"); break;
                case '\f': b.Append("\\f"); break;
                default:
                    if (c < 0x20)
                    {
                        b.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        b.Append(c);
                    }

                    break;
            }
        }

        return b.Append('"').ToString();
    }

    public bool TryGetInt(out int value)
    {
        value = 0;
        return Kind == JsonKind.Number && int.TryParse(Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }
}

/// <summary>An object member: its name, the offset of the name's opening quote, and its value.</summary>
public sealed record JsonMember(string Name, int Position, JsonValue Value);

/// <summary>
/// A JSON reader (RFC 8259, plus <c>//</c> and <c>/* */</c> comments and trailing commas, as schema files often have)
/// that keeps every value's position. Part of the front end because a netstandard2.0 generator cannot count on
/// System.Text.Json; the runtime's schema lowering uses the same reader.
/// </summary>
public sealed class JsonReader
{
    private readonly string _text;
    private int _pos;

    private JsonReader(string text) => _text = text;

    /// <exception cref="PatternSyntaxException">The text is not valid JSON (language <see cref="PatternLanguage.JsonSchema"/>).</exception>
    public static JsonValue Parse(string text)
    {
        var reader = new JsonReader(text);
        reader.Skip();
        var value = reader.Value();
        reader.Skip();
        if (reader._pos < text.Length)
        {
            throw reader.Error(reader._pos, $"not valid JSON: unexpected '{text[reader._pos]}' after the value");
        }

        return value;
    }

    private PatternSyntaxException Error(int at, string reason) => new(PatternLanguage.JsonSchema, at, reason);

    private void Skip()
    {
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            {
                _pos++;
            }
            else if (c == '/' && _pos + 1 < _text.Length && _text[_pos + 1] == '/')
            {
                while (_pos < _text.Length && _text[_pos] != '\n')
                {
                    _pos++;
                }
            }
            else if (c == '/' && _pos + 1 < _text.Length && _text[_pos + 1] == '*')
            {
                int end = _text.IndexOf("*/", _pos + 2, System.StringComparison.Ordinal);
                if (end < 0)
                {
                    throw Error(_pos, "not valid JSON: unterminated comment");
                }

                _pos = end + 2;
            }
            else
            {
                break;
            }
        }
    }

    private JsonValue Value()
    {
        if (_pos >= _text.Length)
        {
            throw Error(_pos, "not valid JSON: expected a value but found the end of the text");
        }

        int start = _pos;
        char c = _text[_pos];
        switch (c)
        {
            case '{': return Object();
            case '[': return Array();
            case '"':
                string s = String();
                return new JsonValue(JsonKind.String, start, _text.Substring(start, _pos - start), s);
            case 't': return Word("true", JsonKind.True);
            case 'f': return Word("false", JsonKind.False);
            case 'n': return Word("null", JsonKind.Null);
            default:
                if (c == '-' || RegexParser.IsDigit(c))
                {
                    return Number();
                }

                throw Error(_pos, $"not valid JSON: unexpected '{c}' where a value was expected");
        }
    }

    private JsonValue Word(string word, JsonKind kind)
    {
        int start = _pos;
        if (string.CompareOrdinal(_text, _pos, word, 0, word.Length) != 0)
        {
            throw Error(_pos, $"not valid JSON: expected '{word}'");
        }

        _pos += word.Length;
        return new JsonValue(kind, start, word);
    }

    private JsonValue Number()
    {
        int start = _pos;
        if (_text[_pos] == '-')
        {
            _pos++;
        }

        int digits = _pos;
        while (_pos < _text.Length && RegexParser.IsDigit(_text[_pos]))
        {
            _pos++;
        }

        if (_pos == digits)
        {
            throw Error(start, "not valid JSON: a number needs digits");
        }

        if (_text[digits] == '0' && _pos - digits > 1)
        {
            throw Error(start, "not valid JSON: a number may not have leading zeros");
        }

        if (_pos < _text.Length && _text[_pos] == '.')
        {
            _pos++;
            int fraction = _pos;
            while (_pos < _text.Length && RegexParser.IsDigit(_text[_pos]))
            {
                _pos++;
            }

            if (_pos == fraction)
            {
                throw Error(start, "not valid JSON: expected digits after '.'");
            }
        }

        if (_pos < _text.Length && (_text[_pos] == 'e' || _text[_pos] == 'E'))
        {
            _pos++;
            if (_pos < _text.Length && (_text[_pos] == '+' || _text[_pos] == '-'))
            {
                _pos++;
            }

            int exponent = _pos;
            while (_pos < _text.Length && RegexParser.IsDigit(_text[_pos]))
            {
                _pos++;
            }

            if (_pos == exponent)
            {
                throw Error(start, "not valid JSON: expected digits in the exponent");
            }
        }

        string raw = _text.Substring(start, _pos - start);
        return new JsonValue(JsonKind.Number, start, raw, raw);
    }

    private string String()
    {
        int open = _pos++;
        var b = new StringBuilder();
        while (true)
        {
            if (_pos >= _text.Length || _text[_pos] == '\n')
            {
                throw Error(open, "not valid JSON: unterminated string");
            }

            char c = _text[_pos++];
            if (c == '"')
            {
                return b.ToString();
            }

            if (c < 0x20)
            {
                throw Error(_pos - 1, "not valid JSON: a control character inside a string must be escaped");
            }

            if (c != '\\')
            {
                b.Append(c);
                continue;
            }

            if (_pos >= _text.Length)
            {
                throw Error(open, "not valid JSON: unterminated string");
            }

            char e = _text[_pos++];
            switch (e)
            {
                case '"': b.Append('"'); break;
                case '\\': b.Append('\\'); break;
                case '/': b.Append('/'); break;
                case 'b': b.Append('\b'); break;
                case 'f': b.Append('\f'); break;
                case 'n': b.Append('\n'); break;
                case 'r': b.Append('\r'); break;
                case 't': b.Append('\t'); break;
                case 'u':
                    if (_pos + 4 > _text.Length || !Enumerable.Range(_pos, 4).All(i => RegexParser.IsHexDigit(_text[i])))
                    {
                        throw Error(_pos - 2, "not valid JSON: expected 4 hexadecimal digits after '\\u'");
                    }

                    b.Append((char)int.Parse(_text.Substring(_pos, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    _pos += 4;
                    break;
                default:
                    throw Error(_pos - 2, $"not valid JSON: unknown escape '\\{e}'");
            }
        }
    }

    private JsonValue Object()
    {
        int start = _pos++;
        var members = new List<JsonMember>();
        Skip();
        while (_pos < _text.Length && _text[_pos] != '}')
        {
            if (_text[_pos] != '"')
            {
                throw Error(_pos, $"not valid JSON: expected a property name in quotes, found '{_text[_pos]}'");
            }

            int at = _pos;
            string name = String();
            Skip();
            if (_pos >= _text.Length || _text[_pos] != ':')
            {
                throw Error(_pos, "not valid JSON: expected ':' after the property name");
            }

            _pos++;
            Skip();
            members.Add(new JsonMember(name, at, Value()));
            Skip();
            if (_pos < _text.Length && _text[_pos] == ',')
            {
                _pos++;
                Skip();
            }
            else if (_pos < _text.Length && _text[_pos] != '}')
            {
                throw Error(_pos, $"not valid JSON: expected ',' or '}}', found '{_text[_pos]}'");
            }
        }

        if (_pos >= _text.Length)
        {
            throw Error(start, "not valid JSON: missing '}' for this '{'");
        }

        _pos++;
        return new JsonValue(JsonKind.Object, start, _text.Substring(start, _pos - start), members: members);
    }

    private JsonValue Array()
    {
        int start = _pos++;
        var items = new List<JsonValue>();
        Skip();
        while (_pos < _text.Length && _text[_pos] != ']')
        {
            items.Add(Value());
            Skip();
            if (_pos < _text.Length && _text[_pos] == ',')
            {
                _pos++;
                Skip();
            }
            else if (_pos < _text.Length && _text[_pos] != ']')
            {
                throw Error(_pos, $"not valid JSON: expected ',' or ']', found '{_text[_pos]}'");
            }
        }

        if (_pos >= _text.Length)
        {
            throw Error(start, "not valid JSON: missing ']' for this '['");
        }

        _pos++;
        return new JsonValue(JsonKind.Array, start, _text.Substring(start, _pos - start), items: items);
    }
}
