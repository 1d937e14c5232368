using System.Globalization;
using System.Text;

namespace Pardec.Runtime.Chat;

/// <summary>
/// Operators, tests, filters, methods of strings and mappings, and globals — the ones @huggingface/jinja provides and
/// chat templates call. Where the reference and Python's Jinja disagree and a chat template can tell, the comment says
/// which one is followed.
/// </summary>
internal static class JinjaBuiltins
{
    // ---- globals ------------------------------------------------------------------------------------------------

    public static void AddGlobals(JinjaScope scope, Func<DateTime> now)
    {
        scope.Set("true", true);
        scope.Set("false", false);
        scope.Set("none", null);
        scope.Set("True", true);
        scope.Set("False", false);
        scope.Set("None", null);
        scope.Set("namespace", new JinjaFunction("namespace", Namespace));
        scope.Set("raise_exception", new JinjaFunction("raise_exception", (args, _) =>
            throw new JinjaRuntimeError(args.Count > 0 ? JinjaValue.ToJsString(args[0]) : "", raised: true)));
        scope.Set("range", new JinjaFunction("range", Range));
        scope.Set("strftime_now", new JinjaFunction("strftime_now", (args, _) =>
            args is [string format, ..] ? Strftime(now(), format) : throw new JinjaRuntimeError("strftime_now expects a format string")));
    }

    private static object? Namespace(List<object?> args, JinjaDict kwargs)
    {
        if (args.Count > 1) throw new JinjaRuntimeError($"namespace expected at most 1 argument, got {args.Count}");
        var ns = new JinjaNamespace();
        if (args.Count == 1)
        {
            switch (args[0])
            {
                case JinjaDict source: foreach (var (k, v) in source) ns[k] = v; break;
                case JinjaList pairs:
                    foreach (var pair in pairs)
                    {
                        if (pair is not JinjaList { Count: 2 } kv || kv[0] is not string key)
                            throw new JinjaRuntimeError("namespace expected a mapping or a list of [key, value] pairs");
                        ns[key] = kv[1];
                    }
                    break;
                default: throw new JinjaRuntimeError($"namespace cannot be made from a {JinjaValue.TypeName(args[0])}");
            }
        }
        foreach (var (k, v) in kwargs) ns[k] = v;
        return ns;
    }

    private static object? Range(List<object?> args, JinjaDict kwargs)
    {
        if (args.Count is < 1 or > 3 || args.Any(a => a is not long)) throw new JinjaRuntimeError("range expects 1 to 3 integers");
        long start = 0, stop, step = 1;
        if (args.Count == 1) stop = (long)args[0]!;
        else { start = (long)args[0]!; stop = (long)args[1]!; if (args.Count == 3) step = (long)args[2]!; }
        if (step == 0) throw new JinjaRuntimeError("range() step must not be zero");
        var result = new JinjaList();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) result.Add(i);
        return result;
    }

    /// <summary>The reference's strftime: %Y %m %d %b %B %H %M %% (English month names), anything else kept.</summary>
    public static string Strftime(DateTime time, string format)
    {
        var text = new StringBuilder();
        var english = CultureInfo.InvariantCulture.DateTimeFormat;
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { text.Append(format[i]); continue; }
            string? piece = format[i + 1] switch
            {
                'Y' => time.Year.ToString(CultureInfo.InvariantCulture),
                'm' => time.Month.ToString("00", CultureInfo.InvariantCulture),
                'd' => time.Day.ToString("00", CultureInfo.InvariantCulture),
                'b' => english.GetAbbreviatedMonthName(time.Month),
                'B' => english.GetMonthName(time.Month),
                'H' => time.Hour.ToString("00", CultureInfo.InvariantCulture),
                'M' => time.Minute.ToString("00", CultureInfo.InvariantCulture),
                '%' => "%",
                _ => null,
            };
            if (piece is null) { text.Append(format[i]); continue; }
            text.Append(piece);
            i++;
        }
        return text.ToString();
    }

    // ---- operators ----------------------------------------------------------------------------------------------

    public static object? Binary(string op, object? left, object? right)
    {
        switch (op)
        {
            case "==": return JinjaValue.LooseEquals(left, right);
            case "!=": return !JinjaValue.LooseEquals(left, right);
        }
        if (left is JinjaUndefined || right is JinjaUndefined)
        {
            if (right is JinjaUndefined && op is "in" or "not in") return op == "not in";
            throw new JinjaRuntimeError($"cannot apply '{op}' to an undefined value");
        }
        if (left is null || right is null) throw new JinjaRuntimeError($"cannot apply '{op}' to none");
        if (op == "~") return JinjaValue.ToJsString(left) + JinjaValue.ToJsString(right);

        if (IsNumeric(left) && IsNumeric(right) && op == "**")
        {
            double a = Number(left), b = Number(right);
            if (a == 0 && b < 0) throw new JinjaRuntimeError("0.0 cannot be raised to a negative power");
            double power = Math.Pow(a, b);
            if (!double.IsFinite(power)) throw new JinjaRuntimeError("the power is not a finite real number");
            return left is double || right is double || b < 0 ? power : (object)(long)power;
        }
        if (JinjaValue.IsNumber(left) && JinjaValue.IsNumber(right))
        {
            bool isFloat = left is double || right is double;
            if (!isFloat)
            {
                long a = (long)left, b = (long)right;
                switch (op)
                {
                    case "+": return a + b;
                    case "-": return a - b;
                    case "*": return a * b;
                    case "/": return (double)a / b;
                    case "//": return b == 0 ? throw new JinjaRuntimeError("integer division by zero") : (long)Math.Floor((double)a / b);
                    case "%": return b == 0 ? throw new JinjaRuntimeError("integer modulo by zero") : a % b; // JavaScript's sign rule, as the reference
                }
            }
            else
            {
                double a = Number(left), b = Number(right);
                switch (op)
                {
                    case "+": return a + b;
                    case "-": return a - b;
                    case "*": return a * b;
                    case "/": return a / b;
                    case "//": return Math.Floor(a / b);
                    case "%": return a % b;
                }
            }
            double x = Number(left), y = Number(right);
            switch (op)
            {
                case "<": return x < y;
                case ">": return x > y;
                case "<=": return x <= y;
                case ">=": return x >= y;
            }
        }
        else if (left is JinjaList l1 && right is JinjaList l2)
        {
            if (op == "+") return new JinjaList(l1.Concat(l2));
        }
        else if (right is JinjaList list && op is "in" or "not in")
        {
            bool member = list.Any(x => JinjaValue.StrictEquals(x, left));
            return op == "in" ? member : !member;
        }

        if ((left is string || right is string) && op == "+") return JinjaValue.ToJsString(left) + JinjaValue.ToJsString(right);
        if (left is string s && right is string t && op is "in" or "not in")
        {
            bool contains = t.Contains(s, StringComparison.Ordinal);
            return op == "in" ? contains : !contains;
        }
        if (left is string key && right is JinjaDict dict and not JinjaNamespace && op is "in" or "not in")
        {
            bool has = dict.ContainsKey(key);
            return op == "in" ? has : !has;
        }
        throw new JinjaRuntimeError($"'{op}' is not defined between a {JinjaValue.TypeName(left)} and a {JinjaValue.TypeName(right)}");
    }

    private static bool IsNumeric(object? v) => v is long or double or bool;
    private static double Number(object? v) => v switch { long l => l, double d => d, bool b => b ? 1 : 0, _ => double.NaN };

    // ---- members --------------------------------------------------------------------------------------------------

    /// <summary><c>a.b</c> and <c>a[b]</c>: a mapping's key (then its methods), a list's or string's index (negative
    /// counts from the end) or method; undefined when there is none (the reference does not raise here).</summary>
    public static object? Member(object? target, object? property)
    {
        switch (target)
        {
            case JinjaDict dict:
                if (property is not string key) throw new JinjaRuntimeError($"a mapping is indexed by strings, not by a {JinjaValue.TypeName(property)}");
                if (dict.TryGetValue(key, out var value)) return value;
                return dict is JinjaNamespace ? JinjaUndefined.Value : DictMethod(dict, key);
            case JinjaList list:
                if (property is long i) return At(list.Count, i) is int at ? list[at] : JinjaUndefined.Value;
                if (property is string name) return name == "length" ? (long)list.Count : JinjaUndefined.Value;
                throw new JinjaRuntimeError($"a list is indexed by integers, not by a {JinjaValue.TypeName(property)}");
            case string s:
                if (property is long j) return At(s.Length, j) is int at ? s[at].ToString() : JinjaUndefined.Value;
                if (property is string method) return StringMethod(s, method);
                throw new JinjaRuntimeError($"a string is indexed by integers, not by a {JinjaValue.TypeName(property)}");
            default:
                if (property is not string) throw new JinjaRuntimeError($"a {JinjaValue.TypeName(target)} cannot be indexed");
                return JinjaUndefined.Value;
        }
    }

    private static int? At(int count, long index)
    {
        long i = index < 0 ? count + index : index;
        return i >= 0 && i < count ? (int)i : null;
    }

    public static List<T> Slice<T>(IReadOnlyList<T> items, long? start, long? stop, long step)
    {
        if (step == 0) throw new JinjaRuntimeError("slice step cannot be zero");
        long n = items.Count;
        long first, end;
        if (step > 0)
        {
            first = start is long s ? (s < 0 ? Math.Max(n + s, 0) : Math.Min(s, n)) : 0;
            end = stop is long e ? (e < 0 ? Math.Max(n + e, 0) : Math.Min(e, n)) : n;
        }
        else
        {
            first = start is long s ? (s < 0 ? Math.Max(n + s, -1) : Math.Min(s, n - 1)) : n - 1;
            end = stop is long e ? (e < -1 ? Math.Max(n + e, -1) : Math.Min(e, n - 1)) : -1;
        }
        var result = new List<T>();
        for (long i = first; step > 0 ? i < end : i > end; i += step) result.Add(items[(int)i]);
        return result;
    }

    public static List<string> CodePoints(string s)
    {
        var result = new List<string>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { result.Add(s.Substring(i, 2)); i++; }
            else result.Add(s[i].ToString());
        }
        return result;
    }

    private static object? DictMethod(JinjaDict dict, string name) => name switch
    {
        "get" => new JinjaFunction("get", (args, _) => args is [string key, ..]
            ? dict.TryGetValue(key, out var v) ? v : args.Count > 1 ? args[1] : null
            : throw new JinjaRuntimeError("get expects a string key")),
        "items" => new JinjaFunction("items", (_, _) => Items(dict)),
        "keys" => new JinjaFunction("keys", (_, _) => new JinjaList(dict.Keys.Cast<object?>())),
        "values" => new JinjaFunction("values", (_, _) => new JinjaList(dict.Values)),
        "dictsort" => new JinjaFunction("dictsort", (args, kwargs) => DictSort(dict, args, kwargs)),
        _ => JinjaUndefined.Value,
    };

    private static JinjaList Items(JinjaDict dict) => new(dict.Select(p => (object?)new JinjaList([p.Key, p.Value])));

    private static JinjaList DictSort(JinjaDict dict, List<object?> args, JinjaDict kwargs)
    {
        bool caseSensitive = Arg<bool>(args, kwargs, 0, "case_sensitive", false);
        string by = Arg(args, kwargs, 1, "by", "key");
        bool reverse = Arg<bool>(args, kwargs, 2, "reverse", false);
        if (by is not ("key" or "value")) throw new JinjaRuntimeError("dictsort: by must be 'key' or 'value'");
        var items = Items(dict).Cast<JinjaList>().ToList();
        items.Sort((a, b) =>
        {
            int c = Compare(a[by == "key" ? 0 : 1], b[by == "key" ? 0 : 1], caseSensitive);
            return reverse ? -c : c;
        });
        return new JinjaList(items);
    }

    private static T Arg<T>(List<object?> args, JinjaDict kwargs, int index, string name, T fallback)
    {
        object? value = index < args.Count ? args[index] : kwargs.TryGetValue(name, out var k) ? k : fallback;
        return value is T t ? t : throw new JinjaRuntimeError($"'{name}' must be a {typeof(T).Name.ToLowerInvariant()}, got a {JinjaValue.TypeName(value)}");
    }

    /// <summary>Sort order: numbers (and booleans) with numbers, strings with strings (case-folded unless asked).</summary>
    private static int Compare(object? a, object? b, bool caseSensitive)
    {
        if (a is null && b is null || a is JinjaUndefined && b is JinjaUndefined) return 0;
        if (IsNumeric(a) && IsNumeric(b)) return Number(a).CompareTo(Number(b));
        if (a is string x && b is string y)
        {
            if (!caseSensitive) { x = x.ToLowerInvariant(); y = y.ToLowerInvariant(); }
            return string.CompareOrdinal(x, y);
        }
        throw new JinjaRuntimeError($"cannot compare a {JinjaValue.TypeName(a)} with a {JinjaValue.TypeName(b)}");
    }

    // ---- strings ----------------------------------------------------------------------------------------------------

    private static object? StringMethod(string s, string name) => name switch
    {
        "length" => (long)s.Length,
        "upper" => new JinjaFunction(name, (_, _) => s.ToUpperInvariant()),
        "lower" => new JinjaFunction(name, (_, _) => s.ToLowerInvariant()),
        "title" => new JinjaFunction(name, (_, _) => Title(s)),
        "capitalize" => new JinjaFunction(name, (_, _) => Capitalize(s)),
        "strip" => new JinjaFunction(name, (args, _) => Strip(s, args, start: true, end: true)),
        "lstrip" => new JinjaFunction(name, (args, _) => Strip(s, args, start: true, end: false)),
        "rstrip" => new JinjaFunction(name, (args, _) => Strip(s, args, start: false, end: true)),
        "startswith" => new JinjaFunction(name, (args, _) => Affix(s, args, name, (x, p) => x.StartsWith(p, StringComparison.Ordinal))),
        "endswith" => new JinjaFunction(name, (args, _) => Affix(s, args, name, (x, p) => x.EndsWith(p, StringComparison.Ordinal))),
        "split" => new JinjaFunction(name, (args, kwargs) => Split(s, args, kwargs)),
        "replace" => new JinjaFunction(name, (args, kwargs) => Replace(s, args, kwargs)),
        _ => JinjaUndefined.Value,
    };

    // JavaScript's trim with no argument (the reference's white space). With an argument, Python's strip(chars): only
    // those characters. The reference ignores the argument (strip('\n') trims spaces too); Qwen3's template calls
    // lstrip('\n') on assistant text, and Python's rule is the one transformers renders with, so it is followed here.
    private static string Strip(string s, List<object?> args, bool start, bool end)
    {
        Func<char, bool> strip = args is [string chars, ..] ? chars.Contains : JinjaLexer.IsWhiteSpace;
        if (args is [not (string or null), ..]) throw new JinjaRuntimeError("strip expects a string of characters");
        int a = 0, b = s.Length;
        if (start) while (a < b && strip(s[a])) a++;
        if (end) while (b > a && strip(s[b - 1])) b--;
        return s[a..b];
    }

    public static string Trim(string s)
    {
        int a = 0, b = s.Length;
        while (a < b && JinjaLexer.IsWhiteSpace(s[a])) a++;
        while (b > a && JinjaLexer.IsWhiteSpace(s[b - 1])) b--;
        return s[a..b];
    }

    private static string Title(string s)
    {
        // /\b\w/g -> upper: a word character that does not follow another word character.
        var text = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            bool word = IsWord(s[i]);
            text.Append(word && (i == 0 || !IsWord(s[i - 1])) ? char.ToUpperInvariant(s[i]) : s[i]);
        }
        return text.ToString();
    }

    private static bool IsWord(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_';
    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    private static bool Affix(string s, List<object?> args, string name, Func<string, string, bool> test) => args switch
    {
        [string p, ..] => test(s, p),
        [JinjaList options, ..] => options.Any(o => o is string p ? test(s, p) : throw new JinjaRuntimeError($"{name}() tuple elements must be strings")),
        _ => throw new JinjaRuntimeError($"{name}() expects a string or a tuple of strings"),
    };

    // Python's str.split(sep=None, maxsplit=-1).
    private static JinjaList Split(string s, List<object?> args, JinjaDict kwargs)
    {
        object? sep = args.Count > 0 ? args[0] : kwargs.TryGetValue("sep", out var k) ? k : null;
        object? max = args.Count > 1 ? args[1] : kwargs.TryGetValue("maxsplit", out var m) ? m : -1L;
        if (sep is not (string or null)) throw new JinjaRuntimeError("split: sep must be a string or none");
        if (max is not long maxsplit) throw new JinjaRuntimeError("split: maxsplit must be an integer");
        var result = new JinjaList();
        if (sep is null)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && JinjaLexer.IsWhiteSpace(s[i])) i++;
                if (i >= s.Length) break;
                if (maxsplit != -1 && result.Count >= maxsplit) { result.Add(s[i..]); break; }
                int start = i;
                while (i < s.Length && !JinjaLexer.IsWhiteSpace(s[i])) i++;
                result.Add(s[start..i]);
            }
            return result;
        }
        string separator = (string)sep;
        if (separator.Length == 0) throw new JinjaRuntimeError("empty separator");
        var parts = s.Split(separator);
        if (maxsplit != -1 && parts.Length > maxsplit)
        {
            result.AddRange(parts.Take((int)maxsplit));
            result.Add(string.Join(separator, parts.Skip((int)maxsplit)));
        }
        else result.AddRange(parts);
        return result;
    }

    private static string Replace(string s, List<object?> args, JinjaDict kwargs)
    {
        if (args.Count < 2 || args[0] is not string old || args[1] is not string replacement)
            throw new JinjaRuntimeError("replace() expects two strings");
        object? count = args.Count > 2 ? args[2] : kwargs.TryGetValue("count", out var c) ? c : null;
        if (count is not (long or null)) throw new JinjaRuntimeError("replace() count must be an integer");
        long remaining = count is long n && n >= 0 ? n : long.MaxValue;
        if (remaining == 0) return s;
        var text = new StringBuilder();
        if (old.Length == 0)
        {
            // Between every code point and at both ends, as Python (and the reference's /(?=)/gu) does.
            var points = CodePoints(s);
            for (int i = 0; i <= points.Count; i++)
            {
                if (remaining-- > 0) text.Append(replacement);
                if (i < points.Count) text.Append(points[i]);
            }
            return text.ToString();
        }
        int at = 0;
        while (remaining > 0)
        {
            int found = s.IndexOf(old, at, StringComparison.Ordinal);
            if (found < 0) break;
            text.Append(s, at, found - at).Append(replacement);
            at = found + old.Length;
            remaining--;
        }
        return text.Append(s, at, s.Length - at).ToString();
    }

    // ---- tests ------------------------------------------------------------------------------------------------------

    public static bool Test(string name, object? v) => name switch
    {
        "defined" => v is not JinjaUndefined,
        "undefined" => v is JinjaUndefined,
        "none" => v is null,
        "boolean" => v is bool,
        "true" => v is true,
        "false" => v is false,
        "string" => v is string,
        "number" => v is long or double,
        "integer" => v is long,
        "float" => v is double,
        "iterable" => v is JinjaList or string,
        "mapping" => v is JinjaDict and not JinjaNamespace,
        "sequence" => v is JinjaList or string or (JinjaDict and not JinjaNamespace),
        "callable" => v is JinjaFunction,
        "odd" => v is long l ? l % 2 != 0 : throw new JinjaRuntimeError($"'odd' needs an integer, got a {JinjaValue.TypeName(v)}"),
        "even" => v is long e ? e % 2 == 0 : throw new JinjaRuntimeError($"'even' needs an integer, got a {JinjaValue.TypeName(v)}"),
        "lower" => v is string s && s == s.ToLowerInvariant(),
        "upper" => v is string u && u == u.ToUpperInvariant(),
        _ => throw new JinjaRuntimeError($"unknown test '{name}'"),
    };

    private static bool Test(string name, object? v, object? argument) => name switch
    {
        "equalto" or "eq" or "==" => JinjaValue.StrictEquals(v, argument),
        "ne" or "!=" => !JinjaValue.StrictEquals(v, argument),
        _ => Test(name, v),
    };

    // ---- filters ----------------------------------------------------------------------------------------------------

    public static object? Filter(string name, object? v, List<object?> args, JinjaDict kwargs)
    {
        switch (name)
        {
            case "safe": return v;
            case "tojson": return ToJson(v, kwargs);
            case "default" or "d":
            {
                object? fallback = args.Count > 0 ? args[0] : kwargs.TryGetValue("default_value", out var dv) ? dv : "";
                bool boolean = Arg<bool>(args, kwargs, 1, "boolean", false);
                return v is JinjaUndefined || (boolean && !JinjaValue.Truthy(v)) ? fallback : v;
            }
            case "string": return v switch { string => v, null => "None", _ => JinjaValue.ToOutput(v) };
            case "length" or "count":
                return v switch
                {
                    string s => (long)s.Length,
                    JinjaList l => (long)l.Count,
                    JinjaDict d => (long)d.Count,
                    _ => throw Cannot(name, v),
                };
        }
        switch (v)
        {
            case JinjaList list: return ListFilter(name, list, args, kwargs);
            case string s: return StringFilter(name, s, args, kwargs);
            case long or double:
                return name switch
                {
                    "abs" => v is long l ? (object)Math.Abs(l) : Math.Abs((double)v),
                    "int" => v is long ? v : (long)Math.Floor((double)v),
                    "float" => Number(v),
                    _ => throw Cannot(name, v),
                };
            case bool b:
                return name switch
                {
                    "bool" => b,
                    "int" => b ? 1L : 0L,
                    "float" => b ? 1.0 : 0.0,
                    _ => throw Cannot(name, v),
                };
            case JinjaDict dict and not JinjaNamespace:
                if (name == "items") return Items(dict);
                if (DictMethod(dict, name) is JinjaFunction method) return method.Invoke(args, kwargs, new JinjaScope());
                throw Cannot(name, v);
            default: throw Cannot(name, v);
        }
    }

    private static JinjaRuntimeError Cannot(string filter, object? v) =>
        new($"filter '{filter}' cannot be applied to a {JinjaValue.TypeName(v)}");

    private static string ToJson(object? v, JinjaDict kwargs)
    {
        int? indent = kwargs.TryGetValue("indent", out var i) ? i switch
        {
            long n => (int)n,
            null => null,
            _ => throw new JinjaRuntimeError("tojson: indent must be an integer"),
        } : null;
        bool ensureAscii = Arg<bool>([], kwargs, 0, "ensure_ascii", false);
        bool sortKeys = Arg<bool>([], kwargs, 0, "sort_keys", false);
        (string, string)? separators = kwargs.TryGetValue("separators", out var s) ? s switch
        {
            JinjaList { Count: 2 } pair when pair[0] is string item && pair[1] is string key => (item, key),
            null => null,
            _ => throw new JinjaRuntimeError("tojson: separators must be a pair of strings"),
        } : null;
        return JinjaValue.ToJson(v, indent, ensureAscii, separators, sortKeys);
    }

    private static object? ListFilter(string name, JinjaList list, List<object?> args, JinjaDict kwargs)
    {
        switch (name)
        {
            case "list": return list;
            case "first": return list.Count > 0 ? list[0] : JinjaUndefined.Value;
            case "last": return list.Count > 0 ? list[^1] : JinjaUndefined.Value;
            case "reverse": return new JinjaList(Enumerable.Reverse(list));
            case "join":
            {
                string separator = Arg(args, kwargs, 0, "d", "");
                return string.Join(separator, list.Select(x => x is null or JinjaUndefined ? "" : JinjaValue.ToJsString(x)));
            }
            case "unique":
            {
                var seen = new JinjaList();
                foreach (var x in list) if (!seen.Any(y => JinjaValue.StrictEquals(x, y))) seen.Add(x);
                return seen;
            }
            case "sort":
            {
                bool reverse = Arg<bool>(args, kwargs, 0, "reverse", false);
                bool caseSensitive = Arg<bool>(args, kwargs, 1, "case_sensitive", false);
                object? attribute = args.Count > 2 ? args[2] : kwargs.TryGetValue("attribute", out var at) ? at : null;
                object? Key(object? item) => attribute is null ? item : Attribute(item, JinjaValue.ToJsString(attribute));
                var sorted = list.ToList();
                // A stable sort, like JavaScript's Array.prototype.sort.
                sorted = sorted.Select((x, index) => (x, index))
                    .OrderBy(p => p, Comparer<(object? x, int index)>.Create((a, b) =>
                    {
                        int c = Compare(Key(a.x), Key(b.x), caseSensitive);
                        return c != 0 ? (reverse ? -c : c) : a.index.CompareTo(b.index);
                    }))
                    .Select(p => p.x).ToList();
                return new JinjaList(sorted);
            }
            case "selectattr" or "rejectattr":
            {
                if (args is not [string attribute, ..]) throw new JinjaRuntimeError($"{name} expects an attribute name");
                string? test = args.Count > 1 ? args[1] as string ?? throw new JinjaRuntimeError($"{name}: the test name must be a string") : null;
                object? argument = args.Count > 2 ? args[2] : JinjaUndefined.Value;
                var result = new JinjaList();
                foreach (var item in list)
                {
                    if (item is not JinjaDict dict) throw new JinjaRuntimeError($"{name} can only be applied to a list of mappings");
                    bool pass = dict.TryGetValue(attribute, out var value) && (test is null ? JinjaValue.Truthy(value) : Test(test, value, argument));
                    if (pass == (name == "selectattr")) result.Add(item);
                }
                return result;
            }
            case "map":
            {
                if (!kwargs.TryGetValue("attribute", out var attribute) || attribute is not string path)
                    throw new JinjaRuntimeError("map is supported with attribute='…' only");
                bool hasDefault = kwargs.TryGetValue("default", out var fallback);
                return new JinjaList(list.Select(item =>
                {
                    if (item is not JinjaDict) throw new JinjaRuntimeError("map(attribute=…) needs a list of mappings");
                    var value = Attribute(item, path);
                    return value is JinjaUndefined && hasDefault ? fallback : value;
                }));
            }
            default: throw Cannot(name, list);
        }
    }

    // "a.b.0": nested keys and list indices, as sort(attribute=) and map(attribute=) read them.
    private static object? Attribute(object? item, string path)
    {
        var value = item;
        foreach (var part in path.Split('.'))
        {
            value = value switch
            {
                JinjaDict d => d.TryGetValue(part, out var v) ? v : JinjaUndefined.Value,
                JinjaList l when int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int i) && i >= 0 && i < l.Count => l[i],
                _ => JinjaUndefined.Value,
            };
            if (value is JinjaUndefined) break;
        }
        return value;
    }

    private static object? StringFilter(string name, string s, List<object?> args, JinjaDict kwargs)
    {
        switch (name)
        {
            case "upper": return s.ToUpperInvariant();
            case "lower": return s.ToLowerInvariant();
            case "title": return Title(s);
            case "capitalize": return Capitalize(s);
            case "trim": return args is [string chars, ..] ? Strip(s, [chars], true, true) : Trim(s);
            case "list": return new JinjaList(CodePoints(s));
            case "first": return s.Length > 0 ? CodePoints(s)[0] : JinjaUndefined.Value;
            case "last": return s.Length > 0 ? CodePoints(s)[^1] : JinjaUndefined.Value;
            case "join": return string.Join(Arg(args, kwargs, 0, "d", ""), CodePoints(s));
            case "replace": return Replace(s, args, kwargs);
            case "int":
            {
                object? fallback = args.Count > 0 ? args[0] : kwargs.TryGetValue("default", out var d) ? d : 0L;
                return ParseLeadingInteger(s) is long l ? l : fallback;
            }
            case "float":
            {
                object? fallback = args.Count > 0 ? args[0] : kwargs.TryGetValue("default", out var d) ? d : 0.0;
                return double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double f) ? f : fallback;
            }
            case "indent":
            {
                object? width = args.Count > 0 ? args[0] : kwargs.TryGetValue("width", out var w) ? w : 4L;
                string pad = width switch { long n => new string(' ', (int)n), string p => p, _ => throw new JinjaRuntimeError("indent: width must be a number") };
                bool first = JinjaValue.Truthy(args.Count > 1 ? args[1] : kwargs.TryGetValue("first", out var f) ? f : false);
                bool blank = JinjaValue.Truthy(args.Count > 2 ? args[2] : kwargs.TryGetValue("blank", out var b) ? b : false);
                var lines = s.Split('\n');
                return string.Join("\n", lines.Select((line, i) => (!first && i == 0) || (!blank && line.Length == 0) ? line : pad + line));
            }
            default: throw Cannot(name, s);
        }
    }

    // parseInt(s, 10): leading white space, a sign, then digits; anything after them is ignored.
    private static long? ParseLeadingInteger(string s)
    {
        int i = 0;
        while (i < s.Length && JinjaLexer.IsWhiteSpace(s[i])) i++;
        int start = i;
        if (i < s.Length && s[i] is '+' or '-') i++;
        int digits = i;
        while (i < s.Length && s[i] is >= '0' and <= '9') i++;
        return i > digits && long.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? v : null;
    }
}
