using System.Runtime.InteropServices;
using Pardec.Runtime.Loading;
using MlTokenizer = Microsoft.ML.Tokenizers.Tokenizer;

namespace Pardec.Runtime.Tokenization;

/// <summary>The library under a <see cref="TextTokenizer"/>. It never adds special tokens and decodes every id it is
/// given; BOS and skipping special tokens are <see cref="TextTokenizer"/>'s job, written once for every backend.</summary>
internal interface ITokenizerBackend
{
    int[] Encode(string text);
    string Decode(int[] ids);
    string? IdToToken(int id);
    int? TokenToId(string token);
}

/// <summary>Hugging Face's Rust tokenizers (through Tokenizers.DotNet) over a tokenizer.json.</summary>
internal sealed class HuggingFaceBackend : ITokenizerBackend
{
    private readonly Tokenizers.DotNet.Tokenizer _native;
    private readonly string?[] _tokens;
    private readonly Dictionary<string, int> _ids;

    public HuggingFaceBackend(TokenizerJson json)
    {
        _tokens = json.Tokens;
        _ids = json.Ids;
        // Tokenizers.DotNet loads only from a path: write the adjusted copy, load it (the library parses it fully),
        // delete it.
        string copy = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"pardec-tokenizer-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllBytes(copy, json.ForNativeLibrary());
            _native = new Tokenizers.DotNet.Tokenizer(copy);
        }
        catch (Tokenizers.DotNet.TokenizerException e)
        {
            throw new ModelLoadException(json.Path, null, $"Hugging Face tokenizers cannot load it: {e.Message}", e);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            throw new ModelLoadException(json.Path, null,
                $"the native Hugging Face tokenizers library (package Tokenizers.DotNet.runtime.{RuntimeInformation.RuntimeIdentifier}) " +
                $"could not be loaded: {e.Message}", e);
        }
        finally
        {
            try { File.Delete(copy); } catch (IOException) { }
        }
    }

    public int[] Encode(string text)
    {
        if (text.Length == 0) return [];
        uint[] ids = _native.Encode(WellFormed(text));
        return MemoryMarshal.Cast<uint, int>(ids).ToArray();
    }

    public string Decode(int[] ids) =>
        ids.Length == 0 ? string.Empty : _native.Decode(MemoryMarshal.Cast<int, uint>(ids).ToArray());

    public string? IdToToken(int id) => (uint)id < (uint)_tokens.Length ? _tokens[id] : null;

    public int? TokenToId(string token) => _ids.TryGetValue(token, out int id) ? id : null;

    // Rust strings are UTF-8: a lone surrogate cannot cross (the library rejects the whole text). Replace it with
    // U+FFFD, as Encoding.UTF8 and Python's "replace" error handler do.
    private static string WellFormed(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (!char.IsSurrogate(text[i])) continue;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            var chars = text.ToCharArray();
            for (int j = i; j < chars.Length; j++)
            {
                if (!char.IsSurrogate(chars[j])) continue;
                if (char.IsHighSurrogate(chars[j]) && j + 1 < chars.Length && char.IsLowSurrogate(chars[j + 1])) { j++; continue; }
                chars[j] = '\uFFFD';
            }
            return new string(chars);
        }
        return text;
    }
}

/// <summary>Microsoft.ML.Tokenizers (SentencePiece tokenizer.model, vocab.json + merges.txt, GPT-2 tiktoken).</summary>
internal sealed class MicrosoftMLBackend(MlTokenizer inner, IReadOnlyDictionary<string, int> vocabulary) : ITokenizerBackend
{
    private readonly Dictionary<int, string> _tokens = Invert(vocabulary);

    public MlTokenizer Inner => inner;

    public int[] Encode(string text) => inner.EncodeToIds(text).ToArray();

    public string Decode(int[] ids) => inner.Decode(ids) ?? string.Empty;

    public string? IdToToken(int id) => _tokens.GetValueOrDefault(id);

    public int? TokenToId(string token) => vocabulary.TryGetValue(token, out int id) ? id : null;

    private static Dictionary<int, string> Invert(IReadOnlyDictionary<string, int> vocabulary)
    {
        var tokens = new Dictionary<int, string>(vocabulary.Count);
        foreach (var (token, id) in vocabulary) tokens.TryAdd(id, token);
        return tokens;
    }
}
