using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Pardec.Runtime.Constraints;

/// <summary>How a JSON Schema is lowered.</summary>
public sealed record JsonSchemaRegexOptions
{
    /// <summary>Whitespace allowed between JSON tokens. Bounded by default, so a model cannot stall in whitespace
    /// (Outlines' unbounded <c>[\n\t ]*</c> lets it).</summary>
    public string Whitespace { get; init; } = "[ ]?";
    /// <summary>How deep values of an unconstrained schema (<c>{}</c>, an untyped array's items) may nest: JSON is not regular.</summary>
    public int AnyValueDepth { get; init; } = 2;
}

/// <summary>
/// Lowers a JSON Schema to a regex whose language is the JSON texts the schema accepts, as Outlines'
/// <c>build_regex_from_schema</c> does. The subset:
/// <list type="bullet">
/// <item><c>type</c> object (<c>properties</c> in their declared order, <c>required</c>; other members are not allowed, as
/// with <c>additionalProperties: false</c>), array (<c>items</c>, <c>minItems</c>, <c>maxItems</c>), string
/// (<c>minLength</c>, <c>maxLength</c>, <c>pattern</c>, <c>format</c> date / time / date-time / uuid), integer, number,
/// boolean, null, and a list of types;</item>
/// <item><c>enum</c>, <c>const</c>, <c>anyOf</c> / <c>oneOf</c> (lowered as any-of: a value matching two branches of a
/// <c>oneOf</c> is not excluded), <c>allOf</c> with one member, local <c>$ref</c> (<c>#/$defs/…</c>,
/// <c>#/definitions/…</c>) that does not recurse;</item>
/// <item>annotations (<c>title</c>, <c>description</c>, <c>$schema</c>, <c>$id</c>, <c>examples</c>, <c>default</c>) are ignored.</item>
/// </list>
/// Any other keyword is a <see cref="ConstraintSyntaxException"/> at its position in the file, rather than a constraint
/// that silently admits outputs the schema rejects. The schema itself is read with System.Text.Json (JsonSchema.Net
/// validates outputs in the tests).
/// </summary>
public sealed class JsonSchemaRegex
{
    private readonly string _text;
    private readonly string? _file;
    private readonly JsonSchemaRegexOptions _options;
    private readonly string _ws;
    private JsonElement _root;
    private readonly Dictionary<string, int> _propertyOffsets = new(StringComparer.Ordinal);
    private readonly HashSet<string> _expanding = new(StringComparer.Ordinal);

    private JsonSchemaRegex(string text, string? file, JsonSchemaRegexOptions options)
    {
        _text = text;
        _file = file;
        _options = options;
        _ws = options.Whitespace;
    }

    public const string StringCharacter = @"([^""\\\x00-\x1F]|\\[""\\/bfnrt]|\\u[0-9a-fA-F]{4})";
    public const string Integer = @"-?(0|[1-9][0-9]*)";
    public const string Number = @"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?";
    public const string Boolean = "(true|false)";
    public const string Null = "null";

    public static string FromSchema(string schemaJson, string? file = null, JsonSchemaRegexOptions? options = null)
    {
        var lowering = new JsonSchemaRegex(schemaJson, file, options ?? new JsonSchemaRegexOptions());
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(schemaJson, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            int position = Offset(schemaJson, (int)(e.LineNumber ?? 0), (int)(e.BytePositionInLine ?? 0));
            throw new ConstraintSyntaxException(ConstraintLanguage.JsonSchema, schemaJson, position, "not valid JSON: " + FirstSentence(e.Message), file);
        }
        using (document)
        {
            lowering._root = document.RootElement;
            lowering.IndexPositions();
            return lowering.Lower(document.RootElement, "#");
        }
    }

    /// <summary>Any JSON value nested at most <paramref name="depth"/> levels (an object only, when <paramref name="objectOnly"/>).</summary>
    public static string AnyValue(int depth, JsonSchemaRegexOptions options, bool objectOnly = false)
    {
        string ws = options.Whitespace;
        string value = $"(\"{StringCharacter}*\"|{Number}|{Boolean}|{Null})";
        string obj = "";
        for (int d = 0; d < depth; d++)
        {
            string member = $"\"{StringCharacter}*\"{ws}:{ws}{value}";
            obj = $@"\{{{ws}({member}({ws},{ws}{member})*)?{ws}\}}";
            string array = $@"\[{ws}({value}({ws},{ws}{value})*)?{ws}\]";
            value = $"(\"{StringCharacter}*\"|{Number}|{Boolean}|{Null}|{obj}|{array})";
        }
        return objectOnly ? obj : value;
    }

    private static string FirstSentence(string message)
    {
        int at = message.IndexOf(" LineNumber", StringComparison.Ordinal);
        return at > 0 ? message[..at].TrimEnd() : message;
    }

    private static int Offset(string text, int line, int bytePosition)
    {
        int offset = 0;
        for (int l = 0; l < line && offset < text.Length; l++)
        {
            int next = text.IndexOf('\n', offset);
            if (next < 0) return text.Length;
            offset = next + 1;
        }
        return Math.Min(text.Length, offset + bytePosition);
    }

    // Where each property name sits in the text, by JSON pointer ("#/properties/name/type"), for errors.
    private void IndexPositions()
    {
        var bytes = Encoding.UTF8.GetBytes(_text);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var path = new List<string>();
        var arrayIndex = new Stack<int>();
        var containers = new Stack<JsonTokenType>();
        string? pendingProperty = null;
        void EnterValue()
        {
            if (containers.Count > 0 && containers.Peek() == JsonTokenType.StartArray)
            {
                int i = arrayIndex.Pop();
                path.Add(i.ToString(CultureInfo.InvariantCulture));
                arrayIndex.Push(i + 1);
            }
            else if (pendingProperty is not null) { path.Add(pendingProperty); pendingProperty = null; }
            else if (containers.Count > 0) path.Add("?");
        }
        void LeaveValue() { if (path.Count > 0 && containers.Count > 0) path.RemoveAt(path.Count - 1); }
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    pendingProperty = reader.GetString();
                    int charOffset = Encoding.UTF8.GetCharCount(bytes, 0, (int)reader.TokenStartIndex);
                    _propertyOffsets.TryAdd("#/" + string.Join("/", path.Append(pendingProperty!)), charOffset);
                    break;
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    if (containers.Count > 0) EnterValue();
                    containers.Push(reader.TokenType);
                    if (reader.TokenType == JsonTokenType.StartArray) arrayIndex.Push(0);
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    if (reader.TokenType == JsonTokenType.EndArray) arrayIndex.Pop();
                    containers.Pop();
                    if (containers.Count > 0) LeaveValue();
                    break;
                default:
                    EnterValue();
                    LeaveValue();
                    break;
            }
        }
    }

    private ConstraintSyntaxException Error(string pointer, string reason)
    {
        int position = _propertyOffsets.TryGetValue(pointer, out int p) ? p : 0;
        return new ConstraintSyntaxException(ConstraintLanguage.JsonSchema, _text, position, reason, _file);
    }

    private static readonly HashSet<string> Annotations = new(StringComparer.Ordinal)
        { "title", "description", "$schema", "$id", "$comment", "examples", "default", "$defs", "definitions", "additionalProperties", "deprecated", "readOnly", "writeOnly" };

    private string Lower(JsonElement schema, string pointer)
    {
        if (schema.ValueKind == JsonValueKind.True) return AnyValue(_options.AnyValueDepth, _options);
        if (schema.ValueKind == JsonValueKind.False) throw Error(pointer, "the schema 'false' accepts nothing");
        if (schema.ValueKind != JsonValueKind.Object) throw Error(pointer, "a schema must be an object or a boolean");

        if (schema.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind != JsonValueKind.False)
            throw Error(pointer + "/additionalProperties", "additionalProperties other than false is not supported (declared properties only)");

        if (schema.TryGetProperty("$ref", out var reference)) return Ref(reference, pointer + "/$ref");
        if (schema.TryGetProperty("const", out var constant)) return Literal(constant);
        if (schema.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0) throw Error(pointer + "/enum", "enum must be a non-empty array");
            return "(" + string.Join("|", values.EnumerateArray().Select(Literal)) + ")";
        }
        foreach (string combinator in new[] { "anyOf", "oneOf" })
            if (schema.TryGetProperty(combinator, out var branches))
            {
                if (branches.ValueKind != JsonValueKind.Array || branches.GetArrayLength() == 0) throw Error(pointer + "/" + combinator, combinator + " must be a non-empty array");
                return "(" + string.Join("|", branches.EnumerateArray().Select((b, i) => Lower(b, $"{pointer}/{combinator}/{i}"))) + ")";
            }
        if (schema.TryGetProperty("allOf", out var all))
        {
            if (all.ValueKind != JsonValueKind.Array || all.GetArrayLength() != 1) throw Error(pointer + "/allOf", "allOf is supported with exactly one member");
            return Lower(all[0], pointer + "/allOf/0");
        }

        if (!schema.TryGetProperty("type", out var type))
        {
            if (schema.TryGetProperty("properties", out _)) return Object(schema, pointer);
            if (schema.TryGetProperty("items", out _)) return Array(schema, pointer);
            CheckKnown(schema, pointer, []);
            return AnyValue(_options.AnyValueDepth, _options);
        }
        if (type.ValueKind == JsonValueKind.Array)
            return "(" + string.Join("|", type.EnumerateArray().Select(t => Typed(schema, t.GetString() ?? "", pointer))) + ")";
        return Typed(schema, type.GetString() ?? "", pointer);
    }

    private string Typed(JsonElement schema, string type, string pointer) => type switch
    {
        "object" => Object(schema, pointer),
        "array" => Array(schema, pointer),
        "string" => String(schema, pointer),
        "integer" => Checked(schema, pointer, Integer, []),
        "number" => Checked(schema, pointer, Number, []),
        "boolean" => Checked(schema, pointer, Boolean, []),
        "null" => Checked(schema, pointer, Null, []),
        _ => throw Error(pointer + "/type", $"unknown type '{type}' (object, array, string, integer, number, boolean, null)"),
    };

    private string Checked(JsonElement schema, string pointer, string regex, string[] allowed)
    {
        CheckKnown(schema, pointer, allowed);
        return regex;
    }

    // A keyword this lowering would ignore changes what the schema accepts: refuse it where it stands.
    private void CheckKnown(JsonElement schema, string pointer, string[] allowed)
    {
        foreach (var property in schema.EnumerateObject())
        {
            if (property.Name == "type" || Annotations.Contains(property.Name) || allowed.Contains(property.Name)) continue;
            throw Error($"{pointer}/{property.Name}", $"the keyword '{property.Name}' is not supported here (supported: {string.Join(", ", allowed.Prepend("type"))})");
        }
    }

    private string Object(JsonElement schema, string pointer)
    {
        CheckKnown(schema, pointer, ["properties", "required"]);
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (schema.TryGetProperty("required", out var req))
            foreach (var r in req.EnumerateArray()) required.Add(r.GetString() ?? "");
        var members = new List<(string Regex, bool Required)>();
        if (schema.TryGetProperty("properties", out var properties))
            foreach (var p in properties.EnumerateObject())
                members.Add(($"{Escape(JsonSerializer.Serialize(p.Name, Relaxed))}{_ws}:{_ws}{Lower(p.Value, $"{pointer}/properties/{p.Name}")}", required.Contains(p.Name)));
        foreach (string r in required)
            if (!members.Any(m => m.Regex.StartsWith(Escape(JsonSerializer.Serialize(r, Relaxed)), StringComparison.Ordinal)))
                throw Error(pointer + "/required", $"'{r}' is required but not among the properties");
        // Members keep their declared order. tail[i]: members i.. each preceded by a comma (optional ones may be absent);
        // first[i]: members i.., the first present one without a comma.
        int n = members.Count;
        var tail = new string[n + 1];
        var first = new string[n + 1];
        tail[n] = first[n] = "";
        for (int i = n - 1; i >= 0; i--)
        {
            string withComma = $"{_ws},{_ws}{members[i].Regex}";
            tail[i] = members[i].Required ? withComma + tail[i + 1] : $"({withComma})?{tail[i + 1]}";
            string starting = members[i].Regex + tail[i + 1];
            first[i] = members[i].Required ? starting : (first[i + 1].Length == 0 ? $"({starting})?" : $"({starting}|{first[i + 1]})");
        }
        return $@"\{{{_ws}{first[0]}{_ws}\}}";
    }

    private string Array(JsonElement schema, string pointer)
    {
        CheckKnown(schema, pointer, ["items", "minItems", "maxItems"]);
        string item = schema.TryGetProperty("items", out var items) ? Lower(items, pointer + "/items") : AnyValue(_options.AnyValueDepth, _options);
        int min = schema.TryGetProperty("minItems", out var mi) ? mi.GetInt32() : 0;
        int? max = schema.TryGetProperty("maxItems", out var ma) ? ma.GetInt32() : null;
        if (max < min) throw Error(pointer + "/maxItems", $"maxItems {max} is below minItems {min}");
        string rest = $"({_ws},{_ws}{item})";
        string inner;
        if (max == 0) inner = "";
        else
        {
            string more = max is int m ? $"{{{Math.Max(min - 1, 0)},{m - 1}}}" : $"{{{Math.Max(min - 1, 0)},}}";
            inner = $"{item}{rest}{more}";
            if (min == 0) inner = $"({inner})?";
        }
        return $@"\[{_ws}{inner}{_ws}\]";
    }

    private string String(JsonElement schema, string pointer)
    {
        CheckKnown(schema, pointer, ["minLength", "maxLength", "pattern", "format"]);
        if (schema.TryGetProperty("pattern", out var pattern))
        {
            string p = pattern.GetString() ?? "";
            p = p.StartsWith('^') ? p[1..] : p;
            p = p.EndsWith('$') ? p[..^1] : p;
            // JSON Schema patterns are unanchored searches; constrained output is the conservative anchored reading.
            return $"\"({p})\"";
        }
        if (schema.TryGetProperty("format", out var format))
            return (format.GetString() ?? "") switch
            {
                "date" => "\"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])\"",
                "time" => "\"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?\"",
                "date-time" => "\"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])\"",
                "uuid" => "\"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\"",
                var f => throw Error(pointer + "/format", $"the string format '{f}' is not supported (date, time, date-time, uuid)"),
            };
        int min = schema.TryGetProperty("minLength", out var mi) ? mi.GetInt32() : 0;
        int? max = schema.TryGetProperty("maxLength", out var ma) ? ma.GetInt32() : null;
        if (max < min) throw Error(pointer + "/maxLength", $"maxLength {max} is below minLength {min}");
        string count = (min, max) switch { (0, null) => "*", (_, null) => $"{{{min},}}", _ => $"{{{min},{max}}}" };
        return $"\"{StringCharacter}{count}\"";
    }

    private string Ref(JsonElement reference, string pointer)
    {
        string target = reference.GetString() ?? "";
        if (!target.StartsWith("#/", StringComparison.Ordinal)) throw Error(pointer, $"only local references ('#/$defs/…') are supported, not '{target}'");
        if (!_expanding.Add(target)) throw Error(pointer, $"the reference '{target}' is recursive: a recursive schema is not regular and is not supported");
        var node = _root;
        foreach (var part in target[2..].Split('/'))
        {
            string name = part.Replace("~1", "/").Replace("~0", "~");
            if (node.ValueKind != JsonValueKind.Object || !node.TryGetProperty(name, out node)) throw Error(pointer, $"the reference '{target}' names nothing");
        }
        string result = Lower(node, "#" + target[1..]);
        _expanding.Remove(target);
        return result;
    }

    // The JSON text of a value, escaping only what JSON requires (no \u003C for '<'), as a regex.
    private static string Literal(JsonElement value) => Escape(JsonSerializer.Serialize(value, Relaxed));

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A literal string as a regex.</summary>
    public static string Escape(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            if ("\\.^$|?*+()[]{}/".Contains(c)) sb.Append('\\');
            sb.Append(c);
        }
        return sb.ToString();
    }
}
