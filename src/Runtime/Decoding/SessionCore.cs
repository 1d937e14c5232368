using System.Diagnostics;

namespace Pardec.Runtime.Decoding;

/// <summary>
/// What the causal, batched and masked sessions share around their canvases: the one <see cref="StopRule"/>, the
/// counters (steps, forwards), the clocks (prefill, decode) and the result they build from a <see cref="TokenSequence"/>.
/// Each session holds one (composition): its canvas decides what a step forwards and commits, this decides when the
/// decode ends and what it reports.
/// </summary>
public sealed class SessionCore
{
    private readonly Stopwatch _clock = new();

    /// <summary>The request's stop/budget rule.</summary>
    public StopRule StopRule { get; } = new();

    /// <summary>Decode steps (loop iterations after prefill).</summary>
    public int Steps { get; private set; }

    /// <summary>Forwards of the session's model, prefill included (for a masked canvas, canvases forwarded).</summary>
    public int Forwards { get; private set; }

    public TimeSpan PrefillTime { get; private set; }
    public TimeSpan DecodeTime => _clock.Elapsed;

    /// <summary>Starts a decode: the rule takes the request's options and the counters and clocks restart.</summary>
    public void Start(GenerationOptions options, IReadOnlyList<int> defaultEos)
    {
        StopRule.Start(options, defaultEos);
        Restart();
    }

    /// <summary>Restarts the counters and clocks (the rule keeps the options it was started with).</summary>
    public void Restart()
    {
        Steps = Forwards = 0;
        PrefillTime = TimeSpan.Zero;
        _clock.Reset();
    }

    public void CountForward(int count = 1) => Forwards += count;

    /// <summary>Records the prefill's time, from a <see cref="Stopwatch.GetTimestamp"/> taken when it began.</summary>
    public void EndPrefill(long started) => PrefillTime = Stopwatch.GetElapsedTime(started);

    /// <summary>A step begins: the decode clock runs.</summary>
    public void BeginStep() => _clock.Start();

    /// <summary>A step ends: it is counted and the decode clock stops.</summary>
    public void EndStep()
    {
        Steps++;
        _clock.Stop();
    }

    /// <summary>
    /// The result of <paramref name="text"/>: its reported tokens (the ending stop token excluded), the counters and why
    /// it ended (<paramref name="ended"/> when given, else the sequence's reason, else cancelled).
    /// </summary>
    public DecodeResult Result(TokenSequence text, int draftForwards = 0, string decoded = "", StopReason? ended = null, TimeSpan? decodeTime = null)
    {
        var reason = ended ?? text.StopReason ?? StopReason.Cancelled;
        var tokens = text.Generated;
        if (reason == StopReason.EndOfSequence && tokens.Length > 0) tokens = tokens[..^1];
        var stats = new DecodeStats
        {
            Tokens = tokens.Length,
            TargetForwards = Forwards,
            DraftForwards = draftForwards,
            Steps = Steps,
            PromptTokens = text.PromptLength,
            PrefillTime = PrefillTime,
            DecodeTime = decodeTime ?? DecodeTime,
        };
        return new DecodeResult(tokens.ToArray(), decoded, stats, reason);
    }
}
