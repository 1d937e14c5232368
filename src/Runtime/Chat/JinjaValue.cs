using System.Collections;
using System.Globalization;
using System.Text;

namespace Pardec.Runtime.Chat;

// Runtime values are plain .NET objects: null (none), bool, long, double, string, JinjaList, JinjaDict, and the three
// kinds below. JinjaUndefined is distinct from none, as in Jinja: `x is defined` and `x is none` differ.

/// <summary>The value of a name, key or attribute that does not exist.</summary>
internal sealed class JinjaUndefined
{
    public static readonly JinjaUndefined Value = new();
    private JinjaUndefined() { }
}

/// <summary>A list (also a tuple: the reference does not tell them apart except in name).</summary>
internal sealed class JinjaList : List<object?>
{
    public JinjaList() { }
    public JinjaList(IEnumerable<object?> items) : base(items) { }
}

/// <summary>A mapping with insertion order (tojson and items() keep it).</summary>
internal class JinjaDict : OrderedDictionary<string, object?>
{
    public JinjaDict() : base(StringComparer.Ordinal) { }
}

/// <summary><c>namespace(…)</c>: the one value a template may change from inside a loop (<c>set ns.x = …</c>).</summary>
internal sealed class JinjaNamespace : JinjaDict;

/// <summary>A callable: a global (range, namespace, raise_exception, strftime_now), a method of a value, or a macro.</summary>
/// <remarks>The scope is the caller's: a macro sees the variables where it is called, as in the reference.</remarks>
internal sealed class JinjaFunction(string name, Func<List<object?>, JinjaDict, JinjaScope, object?> invoke)
{
    public JinjaFunction(string name, Func<List<object?>, JinjaDict, object?> invoke) : this(name, (a, k, _) => invoke(a, k)) { }

    public string Name { get; } = name;
    public object? Invoke(List<object?> arguments, JinjaDict keywords, JinjaScope scope) => invoke(arguments, keywords, scope);
}

/// <summary>An error a template or its data causes while rendering; the interpreter adds the location.</summary>
internal sealed class JinjaRuntimeError(string message, bool raised = false) : Exception(message)
{
    public bool Raised { get; } = raised;
}

internal static class JinjaValue
{
    public static bool IsUndefined(object? v) => v is JinjaUndefined;
    public static bool IsNumber(object? v) => v is long or double;

    public static string TypeName(object? v) => v switch
    {
        null => "none",
        JinjaUndefined => "undefined",
        bool => "boolean",
        long => "integer",
        double => "float",
        string => "string",
        JinjaList => "list",
        JinjaNamespace => "namespace",
        JinjaDict => "mapping",
        JinjaFunction => "function",
        _ => v.GetType().Name,
    };

    /// <summary>Truthiness as in Python: empty strings, lists and mappings are false (a namespace is always true).</summary>
    public static bool Truthy(object? v) => v switch
    {
        null or JinjaUndefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0 && !double.IsNaN(d),
        string s => s.Length > 0,
        JinjaList l => l.Count > 0,
        JinjaNamespace => true,
        JinjaDict d => d.Count > 0,
        _ => true,
    };

    /// <summary>What <c>{{ v }}</c> prints. Booleans print as the reference prints them (<c>true</c>), floats keep a
    /// <c>.0</c>, lists and mappings print as JSON.</summary>
    public static string ToOutput(object? v) => v switch
    {
        null or JinjaUndefined => "",
        double d => FloatText(d),
        JinjaList or JinjaDict => ToJson(v, null, false, null, sortKeys: false, undefinedAsNull: false),
        _ => ToJsString(v),
    };

    /// <summary>JavaScript's <c>String(value)</c> of the underlying value, which the reference uses for <c>~</c> and
    /// for <c>+</c> with a string (so a float 2.0 concatenates as "2").</summary>
    public static string ToJsString(object? v) => v switch
    {
        null => "null",
        JinjaUndefined => "undefined",
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => JsNumber(d),
        string s => s,
        JinjaList l => string.Join(",", l.Select(x => x is null or JinjaUndefined ? "" : ToJsString(x))),
        JinjaDict => "[object Map]",
        JinjaFunction f => f.Name,
        _ => v.ToString() ?? "",
    };

    public static string FloatText(double d)
    {
        if (d == 0 && double.IsNegative(d)) return "-0.0";
        return d % 1 == 0 && double.IsFinite(d) ? d.ToString("F1", CultureInfo.InvariantCulture) : JsNumber(d);
    }

    private static string JsNumber(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity"
        : d.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The reference's loose <c>==</c> (JavaScript <c>==</c> on the underlying values): none equals undefined,
    /// booleans compare as numbers, lists and mappings only equal themselves.</summary>
    public static bool LooseEquals(object? a, object? b)
    {
        if (a is null or JinjaUndefined) return b is null or JinjaUndefined;
        if (b is null or JinjaUndefined) return false;
        if (a is string sa && b is string sb) return string.Equals(sa, sb, StringComparison.Ordinal);
        if (ToNumber(a) is double x && ToNumber(b) is double y) return x == y;
        if (a is string s1 && ToNumber(b) is double n1) return StringToNumber(s1) == n1;
        if (b is string s2 && ToNumber(a) is double n2) return StringToNumber(s2) == n2;
        return ReferenceEquals(a, b);
    }

    /// <summary>JavaScript's <c>===</c> on the underlying values (used by <c>in</c> on a list and by the equalto test).</summary>
    public static bool StrictEquals(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (JinjaUndefined, JinjaUndefined) => true,
        (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
        (bool x, bool y) => x == y,
        _ when IsNumber(a) && IsNumber(b) => ToNumber(a) == ToNumber(b),
        _ => ReferenceEquals(a, b),
    };

    private static double? ToNumber(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => null,
    };

    private static double StringToNumber(string s) =>
        s.Trim().Length == 0 ? 0 : double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : double.NaN;

    /// <summary>
    /// <c>tojson</c> as the reference writes it (Python's <c>json.dumps</c> layout): <c>", "</c> and <c>": "</c>
    /// separators, or <c>","</c> between items with an indent; non-ASCII kept unless <paramref name="ensureAscii"/>.
    /// </summary>
    public static string ToJson(object? v, int? indent, bool ensureAscii, (string Item, string Key)? separators, bool sortKeys, bool undefinedAsNull = true)
    {
        var (item, key) = separators ?? (indent is > 0 ? (",", ": ") : (", ", ": "));
        var text = new StringBuilder();
        Write(v, 0);
        return text.ToString();

        void Write(object? value, int depth)
        {
            switch (value)
            {
                case null: text.Append("null"); break;
                case JinjaUndefined: text.Append(undefinedAsNull ? "null" : "undefined"); break;
                case bool b: text.Append(b ? "true" : "false"); break;
                case long l: text.Append(l.ToString(CultureInfo.InvariantCulture)); break;
                case double d: text.Append(double.IsFinite(d) ? JsNumber(d) : "null"); break;
                case string s: WriteString(text, s, ensureAscii); break;
                case JinjaList list:
                {
                    string pad = indent is > 0 ? "\n" + new string(' ', indent.Value * (depth + 1)) : "";
                    string basePad = indent is > 0 ? "\n" + new string(' ', indent.Value * depth) : "";
                    text.Append('[');
                    for (int i = 0; i < list.Count; i++)
                    {
                        if (i > 0) text.Append(item);
                        text.Append(pad);
                        Write(list[i], depth + 1);
                    }
                    if (list.Count > 0) text.Append(basePad);
                    text.Append(']');
                    break;
                }
                case JinjaDict dict:
                {
                    string pad = indent is > 0 ? "\n" + new string(' ', indent.Value * (depth + 1)) : "";
                    string basePad = indent is > 0 ? "\n" + new string(' ', indent.Value * depth) : "";
                    IEnumerable<KeyValuePair<string, object?>> entries = dict;
                    if (sortKeys) entries = entries.OrderBy(e => e.Key, StringComparer.Create(CultureInfo.InvariantCulture, false));
                    text.Append('{');
                    bool first = true;
                    foreach (var (k, entry) in entries)
                    {
                        if (!first) text.Append(item);
                        first = false;
                        text.Append(pad);
                        WriteString(text, k, ensureAscii);
                        text.Append(key);
                        Write(entry, depth + 1);
                    }
                    if (dict.Count > 0) text.Append(basePad);
                    text.Append('}');
                    break;
                }
                default: throw new JinjaRuntimeError($"cannot convert a {TypeName(value)} to JSON");
            }
        }
    }

    // JSON.stringify's string escaping: ", \, \b \f \n \r \t, other controls and lone surrogates as \uXXXX.
    private static void WriteString(StringBuilder text, string s, bool ensureAscii)
    {
        text.Append('"');
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                default:
                    bool lone = char.IsHighSurrogate(c) ? !(i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                              : char.IsLowSurrogate(c) && !(i > 0 && char.IsHighSurrogate(s[i - 1]));
                    if (c < 0x20 || lone || (ensureAscii && c >= 0x7f)) text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else text.Append(c);
                    break;
            }
        }
        text.Append('"');
    }

    /// <summary>Caller data (strings, numbers, booleans, lists, dictionaries, JSON) as template values.</summary>
    public static object? FromDotNet(object? v) => v switch
    {
        null => null,
        JinjaUndefined or JinjaList or JinjaDict or JinjaFunction => v,
        string or bool or long or double => v,
        int i => (long)i,
        short s => (long)s,
        byte b => (long)b,
        float f => (double)f,
        decimal m => (double)m,
        System.Text.Json.JsonElement e => FromJson(e),
        System.Text.Json.Nodes.JsonNode n => FromJson(System.Text.Json.JsonSerializer.SerializeToElement(n)),
        IDictionary<string, object?> d => ToDict(d),
        IReadOnlyDictionary<string, object?> d => ToDict(d),
        IDictionary d => ToDict(d.Keys.Cast<object>().Select(k => new KeyValuePair<string, object?>(k.ToString()!, d[k]))),
        IEnumerable e => new JinjaList(e.Cast<object?>().Select(FromDotNet)),
        _ => throw new ArgumentException($"a chat template cannot use a value of type {v.GetType().Name}; pass strings, numbers, booleans, lists or dictionaries"),
    };

    private static JinjaDict ToDict(IEnumerable<KeyValuePair<string, object?>> pairs)
    {
        var dict = new JinjaDict();
        foreach (var (k, value) in pairs) dict[k] = FromDotNet(value);
        return dict;
    }

    public static object? FromJson(System.Text.Json.JsonElement e) => e.ValueKind switch
    {
        System.Text.Json.JsonValueKind.Null or System.Text.Json.JsonValueKind.Undefined => null,
        System.Text.Json.JsonValueKind.True => true,
        System.Text.Json.JsonValueKind.False => false,
        System.Text.Json.JsonValueKind.String => e.GetString(),
        // JSON numbers that are whole are integers, as JavaScript (and so the reference) reads them.
        System.Text.Json.JsonValueKind.Number => e.TryGetInt64(out long l) ? (object)l
            : e.GetDouble() is var d && d % 1 == 0 && Math.Abs(d) < 9.007199254740992e15 ? (object)(long)d : d,
        System.Text.Json.JsonValueKind.Array => new JinjaList(e.EnumerateArray().Select(FromJson)),
        _ => ToDictFromJson(e),
    };

    private static JinjaDict ToDictFromJson(System.Text.Json.JsonElement e)
    {
        var dict = new JinjaDict();
        foreach (var p in e.EnumerateObject()) dict[p.Name] = FromJson(p.Value);
        return dict;
    }
}
