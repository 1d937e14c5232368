using System.Text;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Tokenization;

namespace Pardec.Server.Generation;

/// <summary>
/// One request's output as it grows, token by token: stops at an end-of-sequence id, the token budget, the context
/// limit or a stop string (the text is cut before it and the tokens after the one that completed it are dropped),
/// detokenizes incrementally (never half a UTF-8 character) and hands text to the request's channel, holding back the
/// last characters while a stop string could still be completing there. Both engines feed their committed tokens here,
/// so a request stops the same way whichever engine runs it.
/// </summary>
internal sealed class ReplyText
{
    private readonly GenerationRequest _request;
    private readonly StopRule _stop = new();
    private readonly IReadOnlyList<string> _stops;
    private readonly StreamingDetokenizer _detokenizer;
    private readonly StringBuilder _text = new();
    private readonly List<int> _tokens = [];
    private readonly int _holdBack, _contextLength;
    private int _emitted;

    public ReplyText(GenerationRequest request, TextTokenizer tokenizer, IReadOnlyList<int> defaultEos, int contextLength)
    {
        _request = request;
        _stop.Start(request.Options, defaultEos);
        _stops = request.Options.StopStrings;
        _detokenizer = tokenizer.CreateStreamingDetokenizer();
        _holdBack = _stops.Count == 0 ? 0 : _stops.Max(s => s.Length) - 1;
        _contextLength = contextLength;
    }

    public IReadOnlyList<int> Tokens => _tokens;
    public StopReason? Stopped { get; private set; }

    /// <summary>Appends one committed token; false once the reply is over (<see cref="Stopped"/> says why).</summary>
    public bool Push(int token)
    {
        if (Stopped is not null) return false;
        if (_stop.IsStopToken(token)) { Stopped = StopReason.EndOfSequence; return false; }
        _tokens.Add(token);
        int before = _text.Length;
        _text.Append(_detokenizer.Push(token));
        if (StopStrings.Find(_text, before, _stops) is int at)
        {
            _text.Length = at;
            Stopped = StopReason.StopString;
            return false;
        }
        // The runtime's one stop/budget rule: the budget, then the room the context leaves after the prompt.
        Stopped = _stop.Exhausted(_tokens.Count, _contextLength - _request.Prompt.Length);
        return Stopped is null;
    }

    /// <summary>Hands the text that is safe to show to the channel (after each step).</summary>
    public void Flush() => Emit(final: false);

    /// <summary>Ends the reply: the held-back text, then the outcome.</summary>
    public void Finish(StopReason reason, GenerationUsage usage)
    {
        if (Stopped != StopReason.StopString)
        {
            int before = _text.Length;
            _text.Append(_detokenizer.Flush());
            if (StopStrings.Find(_text, before, _stops) is int at) { _text.Length = at; reason = StopReason.StopString; }
        }
        Emit(final: true);
        _request.Writer.TryWrite(new Finished(_tokens.ToArray(), _text.ToString(), reason, usage with { CompletionTokens = _tokens.Count }));
        _request.Writer.TryComplete();
    }

    private void Emit(bool final)
    {
        int upTo = final ? _text.Length : Math.Max(_emitted, _text.Length - _holdBack);
        if (upTo <= _emitted) return;
        _request.Writer.TryWrite(new TextDelta(_text.ToString(_emitted, upTo - _emitted)));
        _emitted = upTo;
    }
}
