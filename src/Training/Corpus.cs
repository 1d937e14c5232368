using System.Security.Cryptography;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Pardec.Training;

/// <summary>
/// A corpus file as one token stream. Documents are separated by a line holding only U+001E (see
/// tools/build_corpus.sh); each is encoded on its own and framed as <c>&lt;s&gt; doc &lt;/s&gt;</c>.
/// </summary>
public static class Corpus
{
    public const char DocumentSeparator = '\u001e';

    /// <summary>Files larger than this get their token stream cached next to them (the big training corpora).</summary>
    private const long CacheThreshold = 1 << 20;

    public static int[] LoadTokens(string path, SentencePieceTokenizer tokenizer, string tokenizerPath, int bosId, int eosId)
    {
        if (!File.Exists(path))
            throw new TrainingException($"{path}: corpus file not found");
        var info = new FileInfo(path);
        if (info.Length == 0)
            throw new TrainingException($"{path}: corpus file is empty");

        // The cache key covers the corpus bytes' identity (size + mtime) and the tokenizer file's hash, so a rebuilt
        // corpus or a different tokenizer never reuses stale ids.
        string? cachePath = null;
        if (info.Length > CacheThreshold)
        {
            string tokHash = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(tokenizerPath)))[..12];
            cachePath = $"{path}.{tokHash}.{info.Length}.{info.LastWriteTimeUtc.Ticks}.tokens";
            if (File.Exists(cachePath))
                return ReadCache(cachePath);
        }

        var tokens = Encode(File.ReadAllText(path, Encoding.UTF8), tokenizer, bosId, eosId);
        if (tokens.Length == 0)
            throw new TrainingException($"{path}: corpus file holds no text");
        if (cachePath is not null)
            WriteCache(cachePath, tokens);
        return tokens;
    }

    /// <summary>Encodes a corpus text (documents separated by U+001E lines) into one framed token stream.</summary>
    public static int[] Encode(string text, SentencePieceTokenizer tokenizer, int bosId, int eosId)
    {
        var result = new List<int>(text.Length / 3);
        foreach (var raw in text.Split(DocumentSeparator))
        {
            var doc = raw.Trim('\n');
            if (doc.Length == 0) continue;
            result.Add(bosId);
            result.AddRange(tokenizer.EncodeToIds(doc, addBeginningOfSentence: false, addEndOfSentence: false));
            result.Add(eosId);
        }
        return result.ToArray();
    }

    private static int[] ReadCache(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var tokens = new int[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, tokens, 0, tokens.Length * 4);
        return tokens;
    }

    private static void WriteCache(string path, int[] tokens)
    {
        var bytes = new byte[tokens.Length * 4];
        Buffer.BlockCopy(tokens, 0, bytes, 0, bytes.Length);
        // Write then rename so an interrupted run never leaves a truncated cache behind.
        File.WriteAllBytes(path + ".tmp", bytes);
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
