using System.Text;
using Pardec.Runtime.Tokenization;

namespace Pardec.Runtime.Constraints;

/// <summary>
/// The bytes every token id stands for, computed once per tokenizer: what a constraint's DFA reads when a token is
/// appended. A vocabulary entry is not its bytes: byte-level BPE (GPT-2, Llama 3, Qwen) spells each byte as a printable
/// character (<c>Ġ</c> = space), SentencePiece writes a space as <c>▁</c> and byte-fallback pieces as <c>&lt;0x0A&gt;</c>.
/// Special and control tokens have no bytes (null): a constraint never allows them as content; end-of-sequence ids
/// (<see cref="EndTokens"/>) are allowed exactly where the constraint is complete.
/// <para>
/// Bytes are the raw piece text, leading space included (<c>▁{</c> is " {"), as llama.cpp's grammar sampler sees a
/// token; SentencePiece's decoder dropping the first token's leading space is a display rule, not part of the match.
/// </para>
/// </summary>
public sealed class TokenVocabulary
{
    private readonly byte[]?[] _bytes;
    private readonly int[] _endTokens;

    public TokenVocabulary(IReadOnlyList<byte[]?> bytes, IEnumerable<int> endTokens)
    {
        _bytes = bytes.Select(b => b is { Length: > 0 } ? b : null).ToArray();
        _endTokens = endTokens.Distinct().Where(t => t >= 0).ToArray();
        Trie = new TokenTrie(_bytes);
    }

    /// <summary>Ids the vocabulary has (the highest + 1); logits rows may be wider (padded embeddings): those ids never match.</summary>
    public int Count => _bytes.Length;

    /// <summary>The bytes of <paramref name="token"/>, or empty for special tokens and ids outside the vocabulary.</summary>
    public ReadOnlySpan<byte> Bytes(int token) => (uint)token < (uint)_bytes.Length ? _bytes[token] : null;

    public bool HasBytes(int token) => (uint)token < (uint)_bytes.Length && _bytes[token] is not null;

    /// <summary>End-of-sequence ids: allowed where the constraint accepts, and they end it.</summary>
    public ReadOnlySpan<int> EndTokens => _endTokens;

    public bool IsEnd(int token) => Array.IndexOf(_endTokens, token) >= 0;

    internal TokenTrie Trie { get; }

    /// <summary>The bytes of a token sequence, concatenated (what a constrained output is matched as).</summary>
    public byte[] Concatenate(IEnumerable<int> tokens)
    {
        var buffer = new List<byte>();
        foreach (int t in tokens) if (!IsEnd(t)) buffer.AddRange(Bytes(t).ToArray());
        return buffer.ToArray();
    }

    /// <summary>The vocabulary of a model's tokenizer; its end tokens the tokenizer's EOS ids, or <paramref name="endTokens"/>
    /// (a chat template's end-of-turn id, say).</summary>
    public static TokenVocabulary From(TextTokenizer tokenizer, IEnumerable<int>? endTokens = null)
    {
        bool byteLevel = tokenizer.Kind.Contains("byte-level", StringComparison.Ordinal);
        bool sentencePiece = tokenizer.Kind.Contains("SentencePiece", StringComparison.Ordinal)
                          || tokenizer.Kind.Contains("byte fallback", StringComparison.Ordinal);
        if (tokenizer.Kind.StartsWith("tiktoken", StringComparison.Ordinal))
            throw new NotSupportedException("The built-in GPT-2 tiktoken data does not expose its byte vocabulary; load the model's vocab.json + merges.txt or tokenizer.json for constrained decoding.");
        var bytes = new byte[]?[tokenizer.VocabSize];
        for (int id = 0; id < bytes.Length; id++)
        {
            if (tokenizer.IsSpecial(id)) continue;
            string? piece = tokenizer.IdToToken(id);
            if (piece is null) continue;
            bytes[id] = byteLevel ? ByteLevelBytes(piece) : sentencePiece ? SentencePieceBytes(piece) : Encoding.UTF8.GetBytes(piece);
        }
        return new TokenVocabulary(bytes, endTokens ?? tokenizer.EosIds);
    }

    /// <summary>A SentencePiece piece's bytes: <c>▁</c> is a space, <c>&lt;0xNN&gt;</c> is byte NN, control pieces have none.</summary>
    public static byte[]? SentencePieceBytes(string piece)
    {
        if (piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
            return [b];
        if (piece is "<unk>" or "<s>" or "</s>" or "<pad>") return null;
        return Encoding.UTF8.GetBytes(piece.Replace('\u2581', ' '));
    }

    /// <summary>A byte-level BPE token's bytes: each char is one byte under GPT-2's bytes_to_unicode table.</summary>
    public static byte[]? ByteLevelBytes(string token)
    {
        var result = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            int b = UnicodeToByte[token[i]];
            if (b < 0) return Encoding.UTF8.GetBytes(token); // an added token written as plain text
            result[i] = (byte)b;
        }
        return result;
    }

    // GPT-2's bytes_to_unicode, inverted: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 on.
    private static readonly int[] UnicodeToByte = BuildByteLevelTable();

    private static int[] BuildByteLevelTable()
    {
        var table = new int[0x200];
        Array.Fill(table, -1);
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[printable ? b : 256 + n++] = b;
        }
        return table;
    }
}

/// <summary>
/// Every token's bytes in one trie, so a state's allowed tokens are found by walking the trie and the DFA together:
/// a branch is cut at the first byte the DFA refuses, and the tokens sharing that prefix are never looked at
/// (what Outlines' and llama.cpp's mask engines do with their vocabulary indexes).
/// </summary>
internal sealed class TokenTrie
{
    // Node 0 is the root. Children of a node: a contiguous run [ChildStart, ChildStart + ChildCount) of Edges.
    public readonly int[] ChildStart, ChildCount;
    public readonly byte[] EdgeByte;   // per node: the byte on the edge into it
    public readonly int[] TokenStart, TokenCount; // per node: tokens whose bytes end here, in Tokens
    public readonly int[] Tokens;

    public TokenTrie(byte[]?[] vocabulary)
    {
        // Build with dictionaries, then lay out breadth-first so each node's children are contiguous.
        var children = new List<SortedDictionary<byte, int>> { new() };
        var ends = new List<List<int>> { new() };
        for (int id = 0; id < vocabulary.Length; id++)
        {
            var bytes = vocabulary[id];
            if (bytes is null) continue;
            int node = 0;
            foreach (byte b in bytes)
            {
                if (!children[node].TryGetValue(b, out int child))
                {
                    child = children.Count;
                    children.Add(new());
                    ends.Add(new());
                    children[node][b] = child;
                }
                node = child;
            }
            ends[node].Add(id);
        }
        int n = children.Count;
        var order = new int[n];       // new index -> old
        var newIndex = new int[n];
        var edge = new byte[n];
        int count = 1;
        order[0] = 0;
        for (int i = 0; i < count; i++)
            foreach (var (b, child) in children[order[i]]) { newIndex[child] = count; order[count] = child; edge[count] = b; count++; }
        ChildStart = new int[n]; ChildCount = new int[n]; EdgeByte = edge; TokenStart = new int[n]; TokenCount = new int[n];
        var tokens = new List<int>();
        for (int i = 0; i < n; i++)
        {
            int old = order[i];
            var kids = children[old];
            ChildCount[i] = kids.Count;
            ChildStart[i] = kids.Count == 0 ? 0 : newIndex[kids.First().Value];
            TokenStart[i] = tokens.Count;
            TokenCount[i] = ends[old].Count;
            tokens.AddRange(ends[old]);
        }
        Tokens = tokens.ToArray();
    }

    public int NodeCount => ChildStart.Length;
}
