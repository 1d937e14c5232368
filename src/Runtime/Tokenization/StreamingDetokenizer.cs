namespace Pardec.Runtime.Tokenization;

/// <summary>
/// Turns ids arriving one (or a few) at a time into text without ever emitting half a character. Byte-level and
/// byte-fallback tokenizers split one UTF-8 character over several ids; decoding such a prefix yields U+FFFD, so we
/// hold text back while the decoded tail ends in U+FFFD. Decoding from a window that starts a few ids back (the
/// approach of HF's TextStreamer) keeps SentencePiece's leading-space handling right.
/// </summary>
public sealed class StreamingDetokenizer
{
    private const char Replacement = '\uFFFD';
    private readonly TextTokenizer _tokenizer;
    private int[] _ids;
    private int _count;
    private int _prefixStart; // window start: ids before it are fully emitted
    private int _readStart;   // ids before it are emitted; [prefixStart, readStart) give context for spacing

    internal StreamingDetokenizer(TextTokenizer tokenizer, int capacity)
    {
        _tokenizer = tokenizer;
        _ids = new int[Math.Max(capacity, 16)];
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

    /// <summary>Emits whatever is held back (a dangling partial character becomes U+FFFD) and resets.</summary>
    public string Flush()
    {
        string prefix = _readStart > _prefixStart ? Decode(_prefixStart, _readStart) : string.Empty;
        string full = Decode(_prefixStart, _count);
        Reset();
        return full.Length > prefix.Length && full.StartsWith(prefix, StringComparison.Ordinal) ? full[prefix.Length..] : string.Empty;
    }

    public void Reset() => _count = _prefixStart = _readStart = 0;

    private string Decode(int start, int end) => _tokenizer.Decode(new ArraySegment<int>(_ids, start, end - start));

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
        _count -= shift; _readStart -= shift; _prefixStart = 0;
    }
}
