using System.Text.Json;
using Pardec.Runtime.Loading;

namespace Pardec.Runtime.Tokenization;

/// <summary>
/// Typed reads of the optional fields of a Hugging Face JSON side file (tokenizer_config.json,
/// generation_config.json). A field that is absent or <c>null</c> reads as null, as transformers treats it; a field of
/// the wrong type is a <see cref="ModelLoadException"/> naming the file and the field.
/// </summary>
internal readonly struct ConfigJson(JsonElement root, string path)
{
    public JsonElement Root => root;
    public string Path => path;

    /// <summary>Reads and parses the file at <paramref name="path"/>: a JSON object, or an error naming the file.</summary>
    public static JsonDocument Parse(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelLoadException(path, null, $"cannot be read: {e.Message}", e);
        }
        return ParseBytes(bytes, path);
    }

    /// <summary>Parses the text of a side file; <paramref name="source"/> names it in errors.</summary>
    public static JsonDocument ParseText(string json, string source) => ParseBytes(System.Text.Encoding.UTF8.GetBytes(json), source);

    private static JsonDocument ParseBytes(byte[] bytes, string source)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e)
        {
            throw new ModelLoadException(source, null, $"is not valid JSON: {e.Message}", e);
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw new ModelLoadException(source, null, "expected a JSON object at the top level");
        }
        return doc;
    }

    public JsonElement? Get(string name) =>
        root.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null ? e : null;

    public int? Int(string name)
    {
        if (Get(name) is not JsonElement e) return null;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v)) return v;
        throw Wrong(name, "an integer", e);
    }

    public double? Double(string name)
    {
        if (Get(name) is not JsonElement e) return null;
        if (e.ValueKind == JsonValueKind.Number) return e.GetDouble();
        throw Wrong(name, "a number", e);
    }

    public bool? Bool(string name)
    {
        if (Get(name) is not JsonElement e) return null;
        if (e.ValueKind is JsonValueKind.True or JsonValueKind.False) return e.GetBoolean();
        throw Wrong(name, "true or false", e);
    }

    /// <summary>An id or a list of ids (transformers accepts both for <c>eos_token_id</c>).</summary>
    public IReadOnlyList<int> IntOrList(string name)
    {
        if (Get(name) is not JsonElement e) return [];
        if (e.ValueKind == JsonValueKind.Number) return [Int(name)!.Value];
        if (e.ValueKind != JsonValueKind.Array) throw Wrong(name, "an integer or a list of integers", e);
        var ids = new List<int>();
        foreach (var item in e.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int id))
                throw Wrong(name, "an integer or a list of integers", item);
            ids.Add(id);
        }
        return ids;
    }

    public ModelLoadException Wrong(string name, string expected, JsonElement got) =>
        new(path, name, $"expected {expected}, got {Describe(got)}");

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => $"the string \"{e.GetString()}\"",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        _ => e.GetRawText(),
    };
}
