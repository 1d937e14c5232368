using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Pardec.Runtime.Tokenization;

namespace Pardec.Runtime.Decoding;

/// <summary>
/// Text in, text out, over any <see cref="IDecoder"/>: encodes the prompt, decodes committed tokens incrementally
/// (never half a UTF-8 character), ends the decode when a stop string appears (the text is cut before it) and streams
/// text as steps commit it.
/// </summary>
public sealed class TextDecoder
{
    public TextDecoder(IDecoder decoder, TextTokenizer tokenizer)
    {
        Decoder = decoder;
        Tokenizer = tokenizer;
    }

    public IDecoder Decoder { get; }
    public TextTokenizer Tokenizer { get; }

    /// <param name="onText">Receives each piece of text as a step commits it (stop strings already removed).</param>
    public DecodeResult Generate(string prompt, GenerationOptions options, Action<string>? onText = null,
                                 IDecodeObserver? observer = null, CancellationToken cancellationToken = default)
    {
        var ids = Tokenizer.Encode(prompt, options.AddBos);
        if (ids.Length == 0) throw new ArgumentException("The prompt encodes to no tokens; give some text or enable AddBos.", nameof(prompt));
        var watcher = new TextWatcher(Tokenizer, options.StopStrings, onText, observer);
        var result = Decoder.Generate(ids, options, watcher, cancellationToken);
        watcher.Finish(result.StopReason);
        var tokens = watcher.StoppedAtString ? result.Tokens.Take(watcher.TokensKept).ToArray() : result.Tokens;
        var stats = result.Stats;
        stats.Tokens = tokens.Count;
        return new DecodeResult(tokens, watcher.Text, stats, watcher.StoppedAtString ? StopReason.StopString : result.StopReason);
    }

    /// <summary>Streams text pieces as they are committed; the decode runs on a worker thread.</summary>
    public async IAsyncEnumerable<string> StreamAsync(string prompt, GenerationOptions options,
                                                      [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var work = Task.Run(() =>
        {
            try { Generate(prompt, options, piece => channel.Writer.TryWrite(piece), null, cancellationToken); channel.Writer.TryComplete(); }
            catch (Exception e) { channel.Writer.TryComplete(e); }
        }, CancellationToken.None);
        await foreach (var piece in channel.Reader.ReadAllAsync(CancellationToken.None)) yield return piece;
        await work.ConfigureAwait(false);
    }

    /// <summary>Detokenizes committed tokens step by step and watches for stop strings.</summary>
    private sealed class TextWatcher(TextTokenizer tokenizer, IReadOnlyList<string> stops, Action<string>? onText, IDecodeObserver? inner) : IDecodeObserver
    {
        private readonly StreamingDetokenizer _detokenizer = tokenizer.CreateStreamingDetokenizer();
        private readonly StringBuilder _text = new();
        private int _emitted;     // characters already handed to onText
        private int _tokens;      // tokens pushed into the detokenizer
        private readonly int _holdBack = stops.Count == 0 ? 0 : stops.Max(s => s.Length) - 1;

        public bool StoppedAtString { get; private set; }
        public int TokensKept { get; private set; }
        public string Text => _text.ToString();

        public bool OnStep(in DecodeStepView step)
        {
            bool keepGoing = inner?.OnStep(step) ?? true;
            foreach (int id in step.Committed)
            {
                if (tokenizer.IsEos(id)) continue;
                int before = _text.Length;
                _text.Append(_detokenizer.Push(id));
                _tokens++;
                int? stop = StopStrings.Find(_text, before, stops);
                if (stop is int at)
                {
                    _text.Length = at;
                    StoppedAtString = true;
                    TokensKept = _tokens;
                    Emit(final: true);
                    return false;
                }
            }
            Emit(final: false);
            return keepGoing;
        }

        public void Finish(StopReason reason)
        {
            if (!StoppedAtString)
            {
                int before = _text.Length;
                _text.Append(_detokenizer.Flush());
                if (StopStrings.Find(_text, before, stops) is int at) { _text.Length = at; StoppedAtString = true; TokensKept = _tokens; }
            }
            Emit(final: true);
        }

        // Holds back the last few characters while a stop string could still be completing there.
        private void Emit(bool final)
        {
            if (onText is null) return;
            int upTo = final ? _text.Length : Math.Max(_emitted, _text.Length - _holdBack);
            if (upTo > _emitted) { onText(_text.ToString(_emitted, upTo - _emitted)); _emitted = upTo; }
        }
    }
}
