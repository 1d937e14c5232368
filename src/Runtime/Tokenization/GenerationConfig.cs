using System.Text.Json;

namespace Pardec.Runtime.Tokenization;

/// <summary>
/// A checkpoint's <c>generation_config.json</c>: the model author's default sampling settings and the ids that end a
/// turn. Chat models often list more end ids here than in <c>config.json</c> (Llama 3.1: <c>&lt;|eot_id|&gt;</c> and
/// <c>&lt;|eom_id|&gt;</c> besides <c>&lt;|end_of_text|&gt;</c>), which is why <see cref="TextTokenizer"/> stops at
/// the union of all three files' EOS ids. Every field is optional; absent or null fields are null here.
/// </summary>
public sealed record GenerationConfig
{
    public const string FileName = "generation_config.json";

    public int? BosTokenId { get; init; }
    /// <summary><c>eos_token_id</c>: one id or a list in the file; empty when absent.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }
    public bool? DoSample { get; init; }
    public double? Temperature { get; init; }
    public double? TopP { get; init; }
    public int? TopK { get; init; }
    public int? MaxNewTokens { get; init; }
    /// <summary><c>max_length</c>: prompt plus generated tokens (transformers' older limit).</summary>
    public int? MaxLength { get; init; }
    public double? RepetitionPenalty { get; init; }

    /// <summary>
    /// The model author's sampling defaults for the settings a caller left unset, as transformers' <c>generate</c> uses
    /// them: with <c>do_sample</c> false they do not apply (transformers decodes greedily and ignores them), otherwise
    /// each of temperature, top-p and top-k the caller did not set is taken from the file where it has one. The
    /// strategy still decides whether anything is sampled: a greedy strategy stays greedy.
    /// </summary>
    public Decoding.GenerationOptions ApplyTo(Decoding.GenerationOptions options, bool temperatureSet, bool topPSet, bool topKSet)
    {
        if (DoSample == false) return options;
        return options with
        {
            Temperature = !temperatureSet && Temperature is double t ? t : options.Temperature,
            TopP = !topPSet && TopP is double p ? p : options.TopP,
            TopK = !topKSet && TopK is int k ? k : options.TopK,
        };
    }

    /// <summary>Reads the file; null when it does not exist. Malformed JSON or a field of the wrong type throws
    /// <see cref="Loading.ModelLoadException"/> naming the file and the field.</summary>
    public static GenerationConfig? Load(string path)
    {
        if (!File.Exists(path)) return null;
        using var doc = ConfigJson.Parse(path);
        return Read(new ConfigJson(doc.RootElement, path));
    }

    /// <summary>Parses the text of a generation_config.json; <paramref name="source"/> names it in errors.</summary>
    public static GenerationConfig Parse(string json, string source = FileName)
    {
        using var doc = ConfigJson.ParseText(json, source);
        return Read(new ConfigJson(doc.RootElement, source));
    }

    private static GenerationConfig Read(ConfigJson r) => new()
    {
        BosTokenId = r.Int("bos_token_id"),
        EosTokenIds = r.IntOrList("eos_token_id"),
        PadTokenId = r.Int("pad_token_id"),
        DoSample = r.Bool("do_sample"),
        Temperature = r.Double("temperature"),
        TopP = r.Double("top_p"),
        TopK = r.Int("top_k"),
        MaxNewTokens = r.Int("max_new_tokens"),
        MaxLength = r.Int("max_length"),
        RepetitionPenalty = r.Double("repetition_penalty"),
    };
}
