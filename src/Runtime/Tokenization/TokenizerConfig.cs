using System.Text.Json;

namespace Pardec.Runtime.Tokenization;

/// <summary>One entry of <c>added_tokens_decoder</c> (or a special token written as an AddedToken object).</summary>
public sealed record AddedTokenSpec(string Content, bool Special, bool LStrip = false, bool RStrip = false,
    bool Normalized = false, bool SingleWord = false);

/// <summary>
/// A checkpoint's <c>tokenizer_config.json</c>, the transformers side of a tokenizer: which strings are BOS/EOS/PAD,
/// whether BOS/EOS are added by default, and the model's chat template. Special tokens may be written as plain
/// strings or as <c>{"__type": "AddedToken", "content": ...}</c> objects; both read as their content.
/// </summary>
public sealed record TokenizerConfig
{
    public const string FileName = "tokenizer_config.json";

    /// <summary>The file this came from (named in errors).</summary>
    public string SourcePath { get; init; } = FileName;
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    public string? PadToken { get; init; }
    public string? UnkToken { get; init; }
    /// <summary><c>add_bos_token</c>; null when the file does not say (then the tokenizer itself decides).</summary>
    public bool? AddBosToken { get; init; }
    public bool? AddEosToken { get; init; }
    /// <summary><c>clean_up_tokenization_spaces</c>, for information: <see cref="TextTokenizer.Decode(IEnumerable{int})"/>
    /// never applies this lossy heuristic, so decoding round-trips.</summary>
    public bool? CleanUpTokenizationSpaces { get; init; }
    /// <summary>The default chat template (a Jinja string), or null. When the file holds a list of named templates
    /// this is the one named "default"; the others are in <see cref="ChatTemplates"/>.</summary>
    public string? ChatTemplate { get; init; }
    /// <summary>Every named template (<c>chat_template</c> as a list of {name, template}); a single string is "default".</summary>
    public IReadOnlyDictionary<string, string> ChatTemplates { get; init; } = new Dictionary<string, string>();
    /// <summary><c>added_tokens_decoder</c>: id → token, as transformers saves it.</summary>
    public IReadOnlyDictionary<int, AddedTokenSpec> AddedTokensDecoder { get; init; } = new Dictionary<int, AddedTokenSpec>();
    public string? TokenizerClass { get; init; }
    public long? ModelMaxLength { get; init; }

    /// <summary>Reads the file; null when it does not exist. Malformed JSON or a field of the wrong type throws
    /// <see cref="Loading.ModelLoadException"/> naming the file and the field.</summary>
    public static TokenizerConfig? Load(string path)
    {
        if (!File.Exists(path)) return null;
        using var doc = ConfigJson.Parse(path);
        return Read(new ConfigJson(doc.RootElement, path));
    }

    /// <summary>Parses the text of a tokenizer_config.json; <paramref name="source"/> names it in errors.</summary>
    public static TokenizerConfig Parse(string json, string source = FileName)
    {
        using var doc = ConfigJson.ParseText(json, source);
        return Read(new ConfigJson(doc.RootElement, source));
    }

    private static TokenizerConfig Read(ConfigJson r)
    {
        var templates = ReadTemplates(r);
        return new TokenizerConfig
        {
            SourcePath = r.Path,
            BosToken = TokenContent(r, "bos_token"),
            EosToken = TokenContent(r, "eos_token"),
            PadToken = TokenContent(r, "pad_token"),
            UnkToken = TokenContent(r, "unk_token"),
            AddBosToken = r.Bool("add_bos_token"),
            AddEosToken = r.Bool("add_eos_token"),
            CleanUpTokenizationSpaces = r.Bool("clean_up_tokenization_spaces"),
            ChatTemplate = templates.GetValueOrDefault("default"),
            ChatTemplates = templates,
            AddedTokensDecoder = ReadAddedTokens(r),
            TokenizerClass = r.Get("tokenizer_class") is { ValueKind: JsonValueKind.String } c ? c.GetString() : null,
            // Often 1e30 ("no limit") in the file: keep only what fits.
            ModelMaxLength = r.Get("model_max_length") is { ValueKind: JsonValueKind.Number } m && m.TryGetInt64(out long max) ? max : null,
        };
    }

    private static string? TokenContent(ConfigJson r, string name)
    {
        if (r.Get(name) is not JsonElement e) return null;
        if (e.ValueKind == JsonValueKind.String) return e.GetString();
        if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String)
            return c.GetString();
        throw r.Wrong(name, "a string or an AddedToken object with \"content\"", e);
    }

    private static Dictionary<string, string> ReadTemplates(ConfigJson r)
    {
        var templates = new Dictionary<string, string>(StringComparer.Ordinal);
        if (r.Get("chat_template") is not JsonElement e) return templates;
        if (e.ValueKind == JsonValueKind.String)
        {
            templates["default"] = e.GetString()!;
            return templates;
        }
        if (e.ValueKind != JsonValueKind.Array) throw r.Wrong("chat_template", "a string or a list of {name, template}", e);
        foreach (var item in e.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object
                || !item.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
                || !item.TryGetProperty("template", out var template) || template.ValueKind != JsonValueKind.String)
                throw r.Wrong("chat_template", "a list of {\"name\": string, \"template\": string}", item);
            templates[name.GetString()!] = template.GetString()!;
        }
        return templates;
    }

    private static Dictionary<int, AddedTokenSpec> ReadAddedTokens(ConfigJson r)
    {
        var tokens = new Dictionary<int, AddedTokenSpec>();
        if (r.Get("added_tokens_decoder") is not JsonElement e) return tokens;
        if (e.ValueKind != JsonValueKind.Object) throw r.Wrong("added_tokens_decoder", "an object of id → token", e);
        foreach (var p in e.EnumerateObject())
        {
            if (!int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id))
                throw new Loading.ModelLoadException(r.Path, $"added_tokens_decoder.{p.Name}", "the key is not a token id");
            var t = new ConfigJson(p.Value, r.Path);
            if (p.Value.ValueKind != JsonValueKind.Object || t.Get("content") is not { ValueKind: JsonValueKind.String } content)
                throw r.Wrong($"added_tokens_decoder.{p.Name}", "an AddedToken object with \"content\"", p.Value);
            tokens[id] = new AddedTokenSpec(content.GetString()!, Flag(t, "special", p.Name), Flag(t, "lstrip", p.Name),
                Flag(t, "rstrip", p.Name), Flag(t, "normalized", p.Name), Flag(t, "single_word", p.Name));
        }
        return tokens;
    }

    private static bool Flag(ConfigJson t, string name, string id)
    {
        if (t.Get(name) is not JsonElement e) return false;
        if (e.ValueKind is JsonValueKind.True or JsonValueKind.False) return e.GetBoolean();
        throw new Loading.ModelLoadException(t.Path, $"added_tokens_decoder.{id}.{name}", "expected true or false");
    }
}
