using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Pardec.Runtime.Models;
using Pardec.Runtime.Tokenization;

namespace Pardec.Runtime.Loading;

/// <summary>
/// The tokenizer a GGUF file carries in its metadata (<c>tokenizer.ggml.*</c>), as the Hugging Face <c>tokenizer.json</c>
/// it was converted from, so Hugging Face's own Rust tokenizers run it (<see cref="TextTokenizer.FromTokenizerJson"/>).
/// Byte-level BPE (<c>tokenizer.ggml.model</c> = <c>gpt2</c>) with the pre-tokenizers of Qwen 2/3 (<c>qwen2</c>) and
/// Llama 3 (<c>llama-bpe</c>): tokens of type 1 (normal) make the BPE vocabulary, types 3 (control) and 4 (user-defined)
/// the added tokens (special and not), type 5 (unused padding rows) is left out; merges are llama.cpp's "a b" strings;
/// <c>add_bos_token</c> becomes a TemplateProcessing that prepends BOS. The regexes are those of the published
/// tokenizer.json files (llama.cpp's <c>llama-vocab.cpp</c> maps the same names to the same patterns). SentencePiece
/// vocabularies (<c>llama</c>) and other pre-tokenizers are refused, naming the key: put the tokenizer files next to the
/// GGUF file instead. The JSON is written once per file to a cache under the temp directory.
/// </summary>
public static class GgufTokenizer
{
    private const string Qwen2Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Llama3Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The file's tokenizer, or null when its metadata has none (no <c>tokenizer.ggml.tokens</c>).</summary>
    public static TextTokenizer? Read(GgufFile file, ModelConfig config)
    {
        if (!file.Metadata.ContainsKey("tokenizer.ggml.tokens")) return null;
        string json = ToTokenizerJson(file);
        string dir = Path.Combine(Path.GetTempPath(), "pardec-gguf-tokenizers");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..24] + ".tokenizer.json");
        if (!File.Exists(path))
        {
            string temp = path + "." + Environment.ProcessId + ".tmp";
            File.WriteAllText(temp, json);
            File.Move(temp, path, overwrite: true);
        }
        return TextTokenizer.FromTokenizerJson(path, config);
    }

    /// <summary>The <c>tokenizer.json</c> text of the file's <c>tokenizer.ggml.*</c> metadata.</summary>
    public static string ToTokenizerJson(GgufFile file)
    {
        string model = file.String("tokenizer.ggml.model") ?? throw new ModelLoadException(file.Path, "tokenizer.ggml.model", "required key is missing");
        if (model != "gpt2")
            throw new ModelLoadException(file.Path, "tokenizer.ggml.model",
                $"'{model}' vocabularies are not read from GGUF metadata yet (byte-level BPE 'gpt2' is): put the model's tokenizer.json or tokenizer.model next to the file");
        string pre = file.String("tokenizer.ggml.pre") ?? "default";
        var (regex, nfc, trimOffsets) = pre switch
        {
            "qwen2" => (Qwen2Regex, true, false),
            "llama-bpe" or "llama3" => (Llama3Regex, false, true),
            _ => throw new ModelLoadException(file.Path, "tokenizer.ggml.pre", $"pre-tokenizer '{pre}' is not one Pardec knows (qwen2, llama-bpe): put the model's tokenizer.json next to the file"),
        };
        var tokens = file.Metadata["tokenizer.ggml.tokens"] as string[] ?? throw new ModelLoadException(file.Path, "tokenizer.ggml.tokens", "expected an array of strings");
        var types = file.Metadata.TryGetValue("tokenizer.ggml.token_type", out var t) && t is object[] ta ? ta.Select(Convert.ToInt32).ToArray() : null;
        if (types is not null && types.Length != tokens.Length)
            throw new ModelLoadException(file.Path, "tokenizer.ggml.token_type", $"{types.Length} types for {tokens.Length} tokens");
        var merges = file.Metadata.TryGetValue("tokenizer.ggml.merges", out var m) && m is string[] ms ? ms
            : throw new ModelLoadException(file.Path, "tokenizer.ggml.merges", "a byte-level BPE vocabulary needs its merges");

        var vocab = new JsonObject();
        var added = new JsonArray();
        for (int id = 0; id < tokens.Length; id++)
        {
            int type = types?[id] ?? 1;
            if (type == 1 || type == 6) vocab[tokens[id]] = id;           // normal (6: byte)
            else if (type is 3 or 4)
                added.Add(new JsonObject
                {
                    ["id"] = id, ["content"] = tokens[id], ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                    ["normalized"] = false, ["special"] = type == 3,
                });
        }
        var mergeArray = new JsonArray();
        foreach (string merge in merges)
        {
            int space = merge.IndexOf(' ', 1);
            if (space < 0) throw new ModelLoadException(file.Path, "tokenizer.ggml.merges", $"'{merge}' is not two tokens separated by a space");
            mergeArray.Add(new JsonArray(merge[..space], merge[(space + 1)..]));
        }
        JsonNode ByteLevel(bool addPrefixSpace, bool trim, bool useRegex) => new JsonObject
        {
            ["type"] = "ByteLevel", ["add_prefix_space"] = addPrefixSpace, ["trim_offsets"] = trim, ["use_regex"] = useRegex,
        };
        JsonNode postProcessor = ByteLevel(false, false, false);
        if (file.Metadata.TryGetValue("tokenizer.ggml.add_bos_token", out var addBos) && addBos is true && file.Integer("tokenizer.ggml.bos_token_id") is long bosId)
        {
            string bos = tokens[bosId];
            JsonNode Special(int typeId) => new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = bos, ["type_id"] = typeId } };
            JsonNode Seq(string id, int typeId) => new JsonObject { ["Sequence"] = new JsonObject { ["id"] = id, ["type_id"] = typeId } };
            postProcessor = new JsonObject
            {
                ["type"] = "Sequence",
                ["processors"] = new JsonArray(ByteLevel(true, false, true), new JsonObject
                {
                    ["type"] = "TemplateProcessing",
                    ["single"] = new JsonArray(Special(0), Seq("A", 0)),
                    ["pair"] = new JsonArray(Special(0), Seq("A", 0), Special(1), Seq("B", 1)),
                    ["special_tokens"] = new JsonObject { [bos] = new JsonObject { ["id"] = bos, ["ids"] = new JsonArray(bosId), ["tokens"] = new JsonArray(bos) } },
                }),
            };
        }
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = nfc ? new JsonObject { ["type"] = "NFC" } : null,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = regex }, ["behavior"] = "Isolated", ["invert"] = false },
                    ByteLevel(false, trimOffsets, false)),
            },
            ["post_processor"] = postProcessor,
            ["decoder"] = ByteLevel(false, false, false),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "", ["end_of_word_suffix"] = "",
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = pre != "qwen2", ["vocab"] = vocab, ["merges"] = mergeArray,
            },
        };
        return root.ToJsonString();
    }
}
