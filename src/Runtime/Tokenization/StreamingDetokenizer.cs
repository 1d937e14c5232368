namespace Pardec.Runtime.Tokenization;

/// <summary>
/// Turns ids arriving one (or a few) at a time into text without ever emitting half a character. Byte-level and
/// byte-fallback tokenizers split one UTF-8 character over several ids; decoding such a prefix yields U+FFFD, so we
/// hold text back while the decoded tail ends in U+FFFD. We decode a short window of recent ids (HF TextStreamer's
/// prefix/read offsets) behind a fixed anchor token whose text is then stripped: SentencePiece decoders drop the
/// leading space of the first word piece of a sequence (Hugging Face's Llama 2 tokenizer.json ends its decoder with
/// <c>Strip(" ", 1)</c>; Microsoft.ML.Tokenizers treats a lone "▁" after byte pieces as that first piece), so without
/// the anchor spaces at window starts would vanish. Byte-level decoders (Llama 3, Qwen) and byte-fallback ones (Llama 2,
/// Gemma) both decode an incomplete character to U+FFFD, which is what holds text back.
/// </summary>
public sealed class StreamingDetokenizer
{
    private const char Replacement = '\uFFFD';
    private readonly TextTokenizer _tokenizer;
    private int[] _ids;
    private int _count;
    private int _prefixStart; // window start: ids before it are fully emitted
    private int _readStart;   // ids before it are emitted; [prefixStart, readStart) give context for spacing
    private readonly int _anchor;
    private readonly string _anchorText;
    private int[] _scratch;   // anchor + window, reused
    private bool _shifted;    // ids were dropped from the front: _ids[0] is no longer the stream's first id

    internal StreamingDetokenizer(TextTokenizer tokenizer, int capacity)
    {
        _tokenizer = tokenizer;
        _ids = new int[Math.Max(capacity, 16)];
        _scratch = new int[_ids.Length + 1];
        int[] anchorIds = [];
        foreach (string candidate in (string[])["a", "x", "the", "0", "."])
            if ((anchorIds = tokenizer.Encode(candidate)).Length > 0) break;
        if (anchorIds.Length == 0) throw new InvalidOperationException("the tokenizer encodes no plain ASCII text");
        _anchor = anchorIds[^1];
        _anchorText = tokenizer.Decode([_anchor]);
    }

    /// <summary>Adds one id and returns the text that is now complete (often empty).</summary>
    public string Push(int id)
    {
        if (_count == _ids.Length) Compact();
        _ids[_count++] = id;
        string prefix = _readStart > _prefixStart ? Decode(_prefixStart, _readStart) : string.Empty;
        string full = Decode(_prefixStart, _count);
        if (full.Length > prefix.Length && full[^1] != Replacement && full.StartsWith(prefix, StringComparison.Ordinal))
        {
            _prefixStart = _readStart;
            _readStart = _count;
            return full[prefix.Length..];
        }
        return string.Empty;
    }

    /// <summary>Emits whatever is held back and resets. A dangling partial character at the end comes out as U+FFFD or
    /// not at all, depending on the tokenizer's decoder.</summary>
    public string Flush()
    {
        string prefix = _readStart > _prefixStart ? Decode(_prefixStart, _readStart) : string.Empty;
        string full = Decode(_prefixStart, _count);
        Reset();
        return full.Length > prefix.Length ? full[prefix.Length..] : string.Empty;
    }

    public void Reset()
    {
        _count = _prefixStart = _readStart = 0;
        _shifted = false;
    }

    private string Decode(int start, int end)
    {
        int n = end - start;
        if (_scratch.Length < n + 1) _scratch = new int[_ids.Length + 1];
        // At the true start of the stream the tokenizer's own first-piece handling is wanted, so no anchor.
        if (start == 0 && !_shifted) return _tokenizer.Decode(new ArraySegment<int>(_ids, 0, n));
        _scratch[0] = _anchor;
        Array.Copy(_ids, start, _scratch, 1, n);
        string text = _tokenizer.Decode(new ArraySegment<int>(_scratch, 0, n + 1));
        return text.StartsWith(_anchorText, StringComparison.Ordinal) ? text[_anchorText.Length..] : text;
    }

    // Ids before the window are never decoded again: slide the window to the front instead of growing.
    private void Compact()
    {
        int shift = _prefixStart;
        if (shift == 0)
        {
            Array.Resize(ref _ids, _ids.Length * 2);
            return;
        }
        Array.Copy(_ids, shift, _ids, 0, _count - shift);
        _shifted = true;
        _count -= shift; _readStart -= shift; _prefixStart = 0;
    }
}
