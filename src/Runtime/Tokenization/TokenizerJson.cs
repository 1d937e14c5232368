using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pardec.Runtime.Loading;

namespace Pardec.Runtime.Tokenization;

/// <summary>
/// What Pardec itself reads from a Hugging Face <c>tokenizer.json</c> (the Rust library does the encoding): the model
/// type, the vocabulary for id ↔ token, the added tokens, and the special tokens the post-processor would add.
/// It also produces the copy handed to the Rust library (<see cref="ForNativeLibrary"/>), because Tokenizers.DotNet
/// 1.4.1 hard-codes <c>encode(text, add_special_tokens: true)</c> and <c>decode(ids, skip_special_tokens: true)</c>:
/// in that copy the post-processor (which only adds specials and adjusts offsets), truncation and padding are removed
/// and no added token is marked special, so the native calls become "encode without specials" and "decode
/// everything"; <see cref="TextTokenizer"/> adds BOS and skips special tokens itself. The <c>special</c> flag
/// changes nothing else in encoding (tokenizers splits added tokens by their <c>normalized</c> flag only).
/// </summary>
internal sealed class TokenizerJson
{
    private readonly byte[] _bytes;
    private readonly List<(int Start, int End, byte[] With)> _edits = [];

    public required string Path { get; init; }
    /// <summary><c>model.type</c> (<c>BPE</c>, <c>WordPiece</c>, <c>Unigram</c>, <c>WordLevel</c>).</summary>
    public required string ModelType { get; init; }
    public bool ByteFallback { get; init; }
    /// <summary>A <c>ByteLevel</c> pre-tokenizer or decoder: GPT-2-style byte-to-unicode tokens.</summary>
    public bool ByteLevel { get; init; }
    /// <summary>id → token (model vocabulary, then added tokens over it); null where no token has the id.</summary>
    public required string?[] Tokens { get; init; }
    public required Dictionary<string, int> Ids { get; init; }
    public required IReadOnlyList<(int Id, string Content, bool Special)> AddedTokens { get; init; }
    /// <summary>Ids the post-processor's single-sequence template puts before the text (usually BOS).</summary>
    public IReadOnlyList<int> PrefixSpecials { get; init; } = [];
    /// <summary>Ids the post-processor's single-sequence template puts after the text (an EOS, in a few models).</summary>
    public IReadOnlyList<int> SuffixSpecials { get; init; } = [];

    private TokenizerJson(byte[] bytes) => _bytes = bytes;

    public static TokenizerJson Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelLoadException(path, null, $"cannot be read: {e.Message}", e);
        }
        try { return Parse(bytes, path); }
        catch (JsonException e) { throw new ModelLoadException(path, null, $"is not valid JSON: {e.Message}", e); }
    }

    private static TokenizerJson Parse(byte[] bytes, string path)
    {
        var spans = TopLevelSpans(bytes, path);
        if (!spans.TryGetValue("model", out var modelSpan)) throw new ModelLoadException(path, "model", "required field is missing");
        var (type, byteFallback, vocab, hasMerges) = ReadModel(bytes.AsSpan(modelSpan.Start, modelSpan.End - modelSpan.Start), path);
        type ??= hasMerges ? "BPE" : null; // files written before "type" was serialised: tokenizers infers BPE from merges
        if (type is null) throw new ModelLoadException(path, "model.type", "required field is missing");
        if (type != "BPE")
            throw new ModelLoadException(path, "model.type",
                $"model type '{type}' is not supported: Pardec reads BPE tokenizer.json files (byte-level, as Llama 3, Qwen and " +
                "DeepSeek ship them, or SentencePiece-style with byte fallback, as Llama 2 and Gemma do)");
        if (vocab is null) throw new ModelLoadException(path, "model.vocab", "required field is missing (expected an object of token → id)");

        using var added = Sub(bytes, spans, "added_tokens");
        using var post = Sub(bytes, spans, "post_processor");
        using var pre = Sub(bytes, spans, "pre_tokenizer");
        using var decoder = Sub(bytes, spans, "decoder");

        var addedTokens = new List<(int, string, bool)>();
        if (added is not null)
        {
            if (added.RootElement.ValueKind != JsonValueKind.Array) throw new ModelLoadException(path, "added_tokens", "expected a list");
            foreach (var t in added.RootElement.EnumerateArray())
            {
                if (t.ValueKind != JsonValueKind.Object
                    || !t.TryGetProperty("id", out var id) || !id.TryGetInt32(out int i) || i < 0
                    || !t.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String)
                    throw new ModelLoadException(path, "added_tokens", $"expected {{\"id\": int, \"content\": string, ...}}, got {Clip(t.GetRawText())}");
                addedTokens.Add((i, c.GetString()!, t.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True));
            }
        }

        int size = 0;
        foreach (int id in vocab.Values) size = Math.Max(size, id + 1);
        foreach (var (id, _, _) in addedTokens) size = Math.Max(size, id + 1);
        var tokens = new string?[size];
        foreach (var (token, id) in vocab) tokens[id] = token;
        foreach (var (id, content, _) in addedTokens)
        {
            tokens[id] = content;
            vocab[content] = id;
        }

        var (prefix, suffix) = post is null ? ([], []) : TemplateSpecials(post.RootElement, vocab);
        var json = new TokenizerJson(bytes)
        {
            Path = path,
            ModelType = type,
            ByteFallback = byteFallback,
            ByteLevel = MentionsType(pre?.RootElement, "ByteLevel") || MentionsType(decoder?.RootElement, "ByteLevel"),
            Tokens = tokens,
            Ids = vocab,
            AddedTokens = addedTokens,
            PrefixSpecials = prefix,
            SuffixSpecials = suffix,
        };
        foreach (string field in (string[])["post_processor", "truncation", "padding"])
            if (spans.TryGetValue(field, out var span)) json._edits.Add((span.Start, span.End, "null"u8.ToArray()));
        if (added is not null && addedTokens.Any(t => t.Item3))
        {
            var array = JsonNode.Parse(added.RootElement.GetRawText())!.AsArray();
            foreach (var t in array) t!["special"] = false;
            var span = spans["added_tokens"];
            json._edits.Add((span.Start, span.End, Encoding.UTF8.GetBytes(array.ToJsonString())));
        }
        return json;
    }

    /// <summary>The bytes of the copy the native library loads (see the class comment).</summary>
    public byte[] ForNativeLibrary()
    {
        var result = new MemoryStream(_bytes.Length);
        int at = 0;
        foreach (var (start, end, with) in _edits.OrderBy(e => e.Start))
        {
            result.Write(_bytes, at, start - at);
            result.Write(with);
            at = end;
        }
        result.Write(_bytes, at, _bytes.Length - at);
        return result.ToArray();
    }

    // Byte ranges of each top-level property's value, found without materialising the (10–30 MB) document.
    private static Dictionary<string, (int Start, int End)> TopLevelSpans(byte[] bytes, string path)
    {
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw new ModelLoadException(path, null, "expected a JSON object at the top level");
        var spans = new Dictionary<string, (int, int)>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string name = reader.GetString()!;
            reader.Read();
            int start = (int)reader.TokenStartIndex;
            reader.Skip();
            spans[name] = (start, (int)reader.BytesConsumed);
        }
        if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            throw new ModelLoadException(path, null, "is not valid JSON: unexpected data after the top-level object");
        return spans;
    }

    private static (string? Type, bool ByteFallback, Dictionary<string, int>? Vocab, bool HasMerges) ReadModel(ReadOnlySpan<byte> model, string path)
    {
        var reader = new Utf8JsonReader(model);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject) throw new ModelLoadException(path, "model", "expected an object");
        string? type = null;
        bool byteFallback = false, hasMerges = false;
        Dictionary<string, int>? vocab = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string name = reader.GetString()!;
            reader.Read();
            switch (name)
            {
                case "type" when reader.TokenType == JsonTokenType.String:
                    type = reader.GetString();
                    break;
                case "byte_fallback" when reader.TokenType is JsonTokenType.True or JsonTokenType.False:
                    byteFallback = reader.GetBoolean();
                    break;
                case "merges":
                    hasMerges = true;
                    reader.Skip();
                    break;
                case "vocab" when reader.TokenType == JsonTokenType.StartObject:
                    vocab = new Dictionary<string, int>(StringComparer.Ordinal);
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        string token = reader.GetString()!;
                        reader.Read();
                        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int id) || id < 0)
                            throw new ModelLoadException(path, "model.vocab", $"the id of token '{token}' is not a non-negative integer");
                        vocab[token] = id;
                    }
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        return (type, byteFallback, vocab, hasMerges);
    }

    private static JsonDocument? Sub(byte[] bytes, Dictionary<string, (int Start, int End)> spans, string name)
    {
        if (!spans.TryGetValue(name, out var s)) return null;
        var doc = JsonDocument.Parse(bytes.AsMemory(s.Start, s.End - s.Start));
        if (doc.RootElement.ValueKind != JsonValueKind.Null) return doc;
        doc.Dispose();
        return null;
    }

    // TemplateProcessing's "single" template (possibly inside a Sequence processor): the special tokens around $A.
    private static (IReadOnlyList<int>, IReadOnlyList<int>) TemplateSpecials(JsonElement post, Dictionary<string, int> ids)
    {
        if (post.TryGetProperty("processors", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var p in list.EnumerateArray())
            {
                var r = TemplateSpecials(p, ids);
                if (r.Item1.Count + r.Item2.Count > 0) return r;
            }
            return ([], []);
        }
        if (!post.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array) return ([], []);
        var prefix = new List<int>();
        var suffix = new List<int>();
        bool seenSequence = false;
        foreach (var piece in single.EnumerateArray())
        {
            if (piece.TryGetProperty("Sequence", out _)) { seenSequence = true; continue; }
            if (!piece.TryGetProperty("SpecialToken", out var special) || !special.TryGetProperty("id", out var name)) continue;
            string content = name.GetString() ?? "";
            // special_tokens maps the template's name to its ids; fall back to the vocabulary.
            IEnumerable<int> tokenIds = post.TryGetProperty("special_tokens", out var map) && map.TryGetProperty(content, out var entry)
                && entry.TryGetProperty("ids", out var idList)
                ? idList.EnumerateArray().Select(i => i.GetInt32())
                : ids.TryGetValue(content, out int id) ? [id] : [];
            (seenSequence ? suffix : prefix).AddRange(tokenIds);
        }
        return (prefix, suffix);
    }

    private static bool MentionsType(JsonElement? e, string type)
    {
        if (e is not JsonElement el) return false;
        if (el.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in el.EnumerateObject())
            {
                if (p.Name == "type" && p.Value.ValueKind == JsonValueKind.String && p.Value.GetString() == type) return true;
                if (p.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array && MentionsType(p.Value, type)) return true;
            }
        }
        else if (el.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in el.EnumerateArray()) if (MentionsType(item, type)) return true;
        }
        return false;
    }

    private static string Clip(string s) => s.Length <= 80 ? s : s[..80] + "…";
}
