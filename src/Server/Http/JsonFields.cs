using System.Text.Json;

namespace Pardec.Server.Http;

/// <summary>
/// Typed reads of a request object's fields, each failure an <see cref="ApiException"/> (400) naming the field by its
/// path and saying what was expected. JSON <c>null</c> counts as absent, as OpenAI's API treats it.
/// </summary>
internal readonly struct JsonFields
{
    private readonly JsonElement _object;
    private readonly string _path;

    public JsonFields(JsonElement element, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw ApiException.Invalid(path.Length == 0 ? "body" : path, $"{(path.Length == 0 ? "The request body" : $"'{path}'")} must be a JSON object, not {Kind(element)}.");
        _object = element;
        _path = path;
    }

    public string Path(string name) => _path.Length == 0 ? name : _path + "." + name;

    public bool TryGet(string name, out JsonElement value)
    {
        if (_object.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null) return true;
        value = default;
        return false;
    }

    public string RequiredString(string name) =>
        OptionalString(name) ?? throw ApiException.Invalid(Path(name), $"'{Path(name)}' is required.");

    public string? OptionalString(string name)
    {
        if (!TryGet(name, out var v)) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Expected(name, "a string", v);
    }

    public bool? OptionalBool(string name)
    {
        if (!TryGet(name, out var v)) return null;
        return v.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => throw Expected(name, "a boolean", v) };
    }

    public int? OptionalInt(string name, int min, int max = int.MaxValue)
    {
        if (!TryGet(name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long value)) throw Expected(name, "an integer", v);
        if (value < min || value > max)
            throw ApiException.Invalid(Path(name), $"'{Path(name)}' must be {Range(min, max)}; got {value}.");
        return (int)value;
    }

    public long? OptionalLong(string name)
    {
        if (!TryGet(name, out var v)) return null;
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long value) ? value : throw Expected(name, "an integer", v);
    }

    public double? OptionalNumber(string name, double min, double max, bool minExclusive = false)
    {
        if (!TryGet(name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number) throw Expected(name, "a number", v);
        double value = v.GetDouble();
        if (value < min || value > max || (minExclusive && value == min))
            throw ApiException.Invalid(Path(name), $"'{Path(name)}' must be {(minExclusive ? "greater than" : "at least")} {min} and at most {max}; got {value}.");
        return value;
    }

    /// <summary><c>stop</c>: a string or an array of at most <paramref name="most"/> strings.</summary>
    public IReadOnlyList<string> StringOrStrings(string name, int most)
    {
        if (!TryGet(name, out var v)) return [];
        if (v.ValueKind == JsonValueKind.String) return v.GetString() is { Length: > 0 } one ? [one] : [];
        if (v.ValueKind != JsonValueKind.Array) throw Expected(name, "a string or an array of strings", v);
        var list = new List<string>();
        int i = 0;
        foreach (var item in v.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String) throw ApiException.Invalid($"{Path(name)}[{i}]", $"'{Path(name)}[{i}]' must be a string, not {Kind(item)}.");
            if (item.GetString() is { Length: > 0 } s) list.Add(s);
            i++;
        }
        if (i > most) throw ApiException.Invalid(Path(name), $"'{Path(name)}' takes at most {most} sequences; got {i}.");
        return list;
    }

    public ApiException Expected(string name, string what, JsonElement got) =>
        ApiException.Invalid(Path(name), $"'{Path(name)}' must be {what}, not {Kind(got)}.");

    public static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    private static string Range(int min, int max) => max == int.MaxValue ? $"at least {min}" : $"between {min} and {max}";
}
