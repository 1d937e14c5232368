using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace Pardec.Dsl.Constraints;

/// <summary>How a JSON Schema is lowered.</summary>
/// <param name="Whitespace">Whitespace allowed between JSON tokens. Bounded by default, so a model cannot stall in
/// whitespace (Outlines' unbounded <c>[\n\t ]*</c> lets it).</param>
/// <param name="AnyValueDepth">How deep values of an unconstrained schema (<c>{}</c>, an untyped array's items) may
/// nest: JSON is not regular.</param>
public sealed record JsonLoweringOptions(string Whitespace = "[ ]?", int AnyValueDepth = 2);

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
/// <c>#/definitions/…</c>) — one that recurses only through <see cref="ToRecursiveRegexes"/>, a regex cannot;</item>
/// <item>annotations (<c>title</c>, <c>description</c>, <c>$schema</c>, <c>$id</c>, <c>examples</c>, <c>default</c>) are ignored.</item>
/// </list>
/// Any other keyword is a <see cref="PatternSyntaxException"/> at its position in the file, rather than a constraint
/// that silently admits outputs the schema rejects; so is a <c>pattern</c> the regex parser refuses. Shared by the front
/// end (PDEC diagnostics in the schema file) and the runtime (which compiles the regex).
/// </summary>
public sealed class JsonSchemaLowering
{
    public const string StringCharacter = @"([^""\\\x00-\x1F]|\\[""\\/bfnrt]|\\u[0-9a-fA-F]{4})";
    public const string Integer = @"-?(0|[1-9][0-9]*)";
    public const string Number = @"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?";
    public const string Boolean = "(true|false)";
    public const string Null = "null";

    private static readonly HashSet<string> Annotations = new()
        { "title", "description", "$schema", "$id", "$comment", "examples", "default", "$defs", "definitions", "additionalProperties", "deprecated", "readOnly", "writeOnly" };

    private readonly JsonLoweringOptions _options;
    private readonly string _ws;
    private readonly JsonValue _root;
    private readonly HashSet<string> _expanding = new();
    // Recursive lowering (ToRecursiveRegexes): the targets of recursive references, in the order they were found.
    private List<string>? _recursive;

    /// <summary>
    /// Control characters that valid JSON never contains (raw, in or out of strings), standing for a recursive
    /// reference in <see cref="ToRecursiveRegexes"/>: the k-th recursive target is <c>RecursionMarks[k]</c>.
    /// </summary>
    public static readonly char[] RecursionMarks = Enumerable.Range(1, 8).Concat(Enumerable.Range(0x0E, 0x20 - 0x0E)).Select(c => (char)c).ToArray();

    private JsonSchemaLowering(JsonValue root, JsonLoweringOptions options)
    {
        _root = root;
        _options = options;
        _ws = options.Whitespace;
    }

    /// <summary>The regex of the JSON texts <paramref name="schemaJson"/> accepts.</summary>
    /// <exception cref="PatternSyntaxException">Invalid JSON, an unsupported keyword or an invalid pattern, at its offset in the text.</exception>
    public static string ToRegex(string schemaJson, JsonLoweringOptions? options = null)
    {
        var root = JsonReader.Parse(schemaJson);
        string regex = new JsonSchemaLowering(root, options ?? new JsonLoweringOptions()).Lower(root);
        return regex;
    }

    /// <summary>
    /// A schema whose local references may recurse (a tree, a linked list), as regexes of a context-free grammar: rule 0
    /// is the schema itself, rule k + 1 the k-th target (<c>#/$defs/node</c>) a reference recursed into. Inside every
    /// rule, a reference that would recurse is the one character <c>RecursionMarks[k]</c> standing for rule k + 1 (a
    /// call, where the runtime builds its pushdown automaton); everything else is lowered as <see cref="ToRegex"/> does.
    /// A schema without recursion gives one rule, equal to <see cref="ToRegex"/>'s regex.
    /// </summary>
    public static IReadOnlyList<(string Target, int Position, string Regex)> ToRecursiveRegexes(string schemaJson, JsonLoweringOptions? options = null)
    {
        var root = JsonReader.Parse(schemaJson);
        var lowering = new JsonSchemaLowering(root, options ?? new JsonLoweringOptions()) { _recursive = new List<string>() };
        var rules = new List<(string, int, string)> { ("#", root.Position, lowering.Lower(root)) };
        for (int k = 0; k < lowering._recursive.Count; k++)
        {
            string target = lowering._recursive[k];
            var node = lowering.Resolve(target, root.Position);
            lowering._expanding.Clear();
            lowering._expanding.Add(target);
            rules.Add((target, node.Position, lowering.Lower(node)));
        }

        return rules;
    }

    /// <summary>Any JSON value nested at most <paramref name="depth"/> levels (an object only, when <paramref name="objectOnly"/>).</summary>
    public static string AnyValue(int depth, JsonLoweringOptions? options = null, bool objectOnly = false)
    {
        string ws = (options ?? new JsonLoweringOptions()).Whitespace;
        string value = $"(\"{StringCharacter}*\"|{Number}|{Boolean}|{Null})";
        string obj = string.Empty;
        for (int d = 0; d < depth; d++)
        {
            string member = $"\"{StringCharacter}*\"{ws}:{ws}{value}";
            obj = $@"\{{{ws}({member}({ws},{ws}{member})*)?{ws}\}}";
            string array = $@"\[{ws}({value}({ws},{ws}{value})*)?{ws}\]";
            value = $"(\"{StringCharacter}*\"|{Number}|{Boolean}|{Null}|{obj}|{array})";
        }

        return objectOnly ? obj : value;
    }

    /// <summary>A literal string as a regex.</summary>
    public static string Escape(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            if ("\\.^$|?*+()[]{}/".IndexOf(c) >= 0)
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }

        return sb.ToString();
    }

    private static PatternSyntaxException Error(int at, string reason) => new(PatternLanguage.JsonSchema, at, reason);

    private static int At(JsonValue schema, string keyword) => schema.Member(keyword)?.Position ?? schema.Position;

    private string Lower(JsonValue schema)
    {
        if (schema.Kind == JsonKind.True)
        {
            return AnyValue(_options.AnyValueDepth, _options);
        }

        if (schema.Kind == JsonKind.False)
        {
            throw Error(schema.Position, "the schema 'false' accepts nothing");
        }

        if (schema.Kind != JsonKind.Object)
        {
            throw Error(schema.Position, "a schema must be an object or a boolean");
        }

        if (schema["additionalProperties"] is { } additional && additional.Kind != JsonKind.False)
        {
            throw Error(At(schema, "additionalProperties"), "additionalProperties other than false is not supported (declared properties only)");
        }

        if (schema["$ref"] is { } reference)
        {
            return Ref(reference, At(schema, "$ref"));
        }

        if (schema["const"] is { } constant)
        {
            return Literal(constant);
        }

        if (schema["enum"] is { } values)
        {
            if (values.Kind != JsonKind.Array || values.Items.Count == 0)
            {
                throw Error(At(schema, "enum"), "enum must be a non-empty array");
            }

            return "(" + string.Join("|", values.Items.Select(Literal)) + ")";
        }

        foreach (string combinator in new[] { "anyOf", "oneOf" })
        {
            if (schema[combinator] is { } branches)
            {
                if (branches.Kind != JsonKind.Array || branches.Items.Count == 0)
                {
                    throw Error(At(schema, combinator), combinator + " must be a non-empty array");
                }

                return "(" + string.Join("|", branches.Items.Select(Lower)) + ")";
            }
        }

        if (schema["allOf"] is { } all)
        {
            if (all.Kind != JsonKind.Array || all.Items.Count != 1)
            {
                throw Error(At(schema, "allOf"), "allOf is supported with exactly one member");
            }

            return Lower(all.Items[0]);
        }

        if (schema["type"] is not { } type)
        {
            if (schema.Member("properties") is not null)
            {
                return Object(schema);
            }

            if (schema.Member("items") is not null)
            {
                return Array(schema);
            }

            CheckKnown(schema, new string[0]);
            return AnyValue(_options.AnyValueDepth, _options);
        }

        if (type.Kind == JsonKind.Array)
        {
            return "(" + string.Join("|", type.Items.Select(t => Typed(schema, t))) + ")";
        }

        return Typed(schema, type);
    }

    private string Typed(JsonValue schema, JsonValue type)
    {
        if (type.Kind != JsonKind.String)
        {
            throw Error(At(schema, "type"), "a type must be a string or a list of strings");
        }

        return type.Text switch
        {
            "object" => Object(schema),
            "array" => Array(schema),
            "string" => String(schema),
            "integer" => Checked(schema, Integer),
            "number" => Checked(schema, Number),
            "boolean" => Checked(schema, Boolean),
            "null" => Checked(schema, Null),
            _ => throw Error(At(schema, "type"), $"unknown type '{type.Text}' (object, array, string, integer, number, boolean, null)"),
        };
    }

    private static string Checked(JsonValue schema, string regex)
    {
        CheckKnown(schema, new string[0]);
        return regex;
    }

    // A keyword this lowering would ignore changes what the schema accepts: refuse it where it stands.
    private static void CheckKnown(JsonValue schema, string[] allowed)
    {
        foreach (var member in schema.Members)
        {
            if (member.Name == "type" || Annotations.Contains(member.Name) || allowed.Contains(member.Name))
            {
                continue;
            }

            throw Error(member.Position, $"the keyword '{member.Name}' is not supported here (supported: {string.Join(", ", new[] { "type" }.Concat(allowed))})");
        }
    }

    private static int Int(JsonValue schema, string keyword, int fallback)
    {
        if (schema[keyword] is not { } value)
        {
            return fallback;
        }

        if (!value.TryGetInt(out int n) || n < 0)
        {
            throw Error(value.Position, $"{keyword} must be a non-negative integer");
        }

        return n;
    }

    private string Object(JsonValue schema)
    {
        CheckKnown(schema, new[] { "properties", "required" });
        var required = new List<(string Name, int Position)>();
        if (schema["required"] is { } req)
        {
            if (req.Kind != JsonKind.Array || req.Items.Any(r => r.Kind != JsonKind.String))
            {
                throw Error(req.Position, "required must be a list of property names");
            }

            required.AddRange(req.Items.Select(r => (r.Text!, r.Position)));
        }

        var members = new List<(string Name, string Regex, bool Required)>();
        if (schema["properties"] is { } properties)
        {
            if (properties.Kind != JsonKind.Object)
            {
                throw Error(properties.Position, "properties must be an object");
            }

            foreach (var p in properties.Members)
            {
                members.Add((p.Name, $"{Escape(JsonValue.Quote(p.Name))}{_ws}:{_ws}{Lower(p.Value)}", required.Any(r => r.Name == p.Name)));
            }
        }

        foreach (var (name, position) in required)
        {
            if (!members.Any(m => m.Name == name))
            {
                throw Error(position, $"'{name}' is required but not among the properties");
            }
        }

        // Members keep their declared order. tail[i]: members i.. each preceded by a comma (optional ones may be absent);
        // first[i]: members i.., the first present one without a comma.
        int n = members.Count;
        var tail = new string[n + 1];
        var first = new string[n + 1];
        tail[n] = first[n] = string.Empty;
        for (int i = n - 1; i >= 0; i--)
        {
            string withComma = $"{_ws},{_ws}{members[i].Regex}";
            tail[i] = members[i].Required ? withComma + tail[i + 1] : $"({withComma})?{tail[i + 1]}";
            string starting = members[i].Regex + tail[i + 1];
            first[i] = members[i].Required ? starting : (first[i + 1].Length == 0 ? $"({starting})?" : $"({starting}|{first[i + 1]})");
        }

        return $@"\{{{_ws}{first[0]}{_ws}\}}";
    }

    private string Array(JsonValue schema)
    {
        CheckKnown(schema, new[] { "items", "minItems", "maxItems" });
        string item = schema["items"] is { } items ? Lower(items) : AnyValue(_options.AnyValueDepth, _options);
        int min = Int(schema, "minItems", 0);
        int? max = schema.Member("maxItems") is null ? null : Int(schema, "maxItems", 0);
        if (max < min)
        {
            throw Error(At(schema, "maxItems"), $"maxItems {max} is below minItems {min}");
        }

        string rest = $"({_ws},{_ws}{item})";
        string inner;
        if (max == 0)
        {
            inner = string.Empty;
        }
        else
        {
            string more = max is int m ? $"{{{System.Math.Max(min - 1, 0)},{m - 1}}}" : $"{{{System.Math.Max(min - 1, 0)},}}";
            inner = $"{item}{rest}{more}";
            if (min == 0)
            {
                inner = $"({inner})?";
            }
        }

        return $@"\[{_ws}{inner}{_ws}\]";
    }

    private static string String(JsonValue schema)
    {
        CheckKnown(schema, new[] { "minLength", "maxLength", "pattern", "format" });
        if (schema["pattern"] is { } pattern)
        {
            if (pattern.Kind != JsonKind.String)
            {
                throw Error(pattern.Position, "pattern must be a string");
            }

            string p = pattern.Text!;
            int offset = 0;
            if (p.StartsWith("^", System.StringComparison.Ordinal))
            {
                p = p.Substring(1);
                offset = 1;
            }

            if (p.EndsWith("$", System.StringComparison.Ordinal))
            {
                p = p.Substring(0, p.Length - 1);
            }

            // A pattern the regex parser refuses is an error inside the string literal (approximately placed when escapes precede it).
            try
            {
                RegexParser.Parse(p);
            }
            catch (PatternSyntaxException e)
            {
                throw Error(pattern.Position + RawOffset(pattern.Raw, offset + e.Position), "pattern: " + e.Reason);
            }

            // JSON Schema patterns are unanchored searches; constrained output is the conservative anchored reading.
            return $"\"({p})\"";
        }

        if (schema["format"] is { } format)
        {
            return format.Text switch
            {
                "date" => "\"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])\"",
                "time" => "\"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?\"",
                "date-time" => "\"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])\"",
                "uuid" => "\"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\"",
                var f => throw Error(format.Position, $"the string format '{f}' is not supported (date, time, date-time, uuid)"),
            };
        }

        int min = Int(schema, "minLength", 0);
        int? max = schema.Member("maxLength") is null ? null : Int(schema, "maxLength", 0);
        if (max < min)
        {
            throw Error(At(schema, "maxLength"), $"maxLength {max} is below minLength {min}");
        }

        if (min > RegexParser.MaxRepeat || max > RegexParser.MaxRepeat)
        {
            throw Error(At(schema, max > RegexParser.MaxRepeat ? "maxLength" : "minLength"), $"string lengths above {RegexParser.MaxRepeat} are not supported");
        }

        string count = (min, max) switch { (0, null) => "*", (_, null) => $"{{{min},}}", _ => $"{{{min},{max}}}" };
        return $"\"{StringCharacter}{count}\"";
    }

    private string Ref(JsonValue reference, int at)
    {
        string target = reference.Kind == JsonKind.String ? reference.Text! : string.Empty;
        if (!target.StartsWith("#/", System.StringComparison.Ordinal))
        {
            throw Error(at, $"only local references ('#/$defs/…') are supported, not '{target}'");
        }

        if (_expanding.Contains(target) && _recursive is not null)
        {
            int k = _recursive.IndexOf(target);
            if (k < 0)
            {
                if (_recursive.Count == RecursionMarks.Length)
                {
                    throw Error(at, $"more than {RecursionMarks.Length} recursive references are not supported");
                }

                k = _recursive.Count;
                _recursive.Add(target);
            }

            return $"\\x{(int)RecursionMarks[k]:X2}";
        }

        if (!_expanding.Add(target))
        {
            throw Error(at, $"the reference '{target}' is recursive: a recursive schema is not regular (a constraint from it is a pushdown grammar)");
        }

        string result = Lower(Resolve(target, at));
        _expanding.Remove(target);
        return result;
    }

    private JsonValue Resolve(string target, int at)
    {
        var node = _root;
        foreach (var part in target.Substring(2).Split('/'))
        {
            string name = part.Replace("~1", "/").Replace("~0", "~");
            if (node.Kind != JsonKind.Object || node[name] is not { } next)
            {
                throw Error(at, $"the reference '{target}' names nothing");
            }

            node = next;
        }

        return node;
    }

    // Where the decoded character at index i of a string literal sits in its raw text (escapes are longer than what they stand for).
    private static int RawOffset(string raw, int index)
    {
        int at = 1;
        for (int decoded = 0; decoded < index && at < raw.Length - 1; decoded++)
        {
            at += raw[at] != '\\' ? 1 : at + 1 < raw.Length && raw[at + 1] == 'u' ? 6 : 2;
        }

        return at;
    }

    // The JSON text of a value, escaping only what JSON requires (no \u003C for '<'), as a regex.
    private static string Literal(JsonValue value) => Escape(value.Canonical());
}
