using System.Diagnostics;
using System.Threading.Channels;
using Pardec.Runtime.Decoding;

namespace Pardec.Server.Generation;

/// <summary>
/// One request as an engine sees it: prompt ids, generation options and the channel its text and outcome are written
/// to. The engine writes <see cref="TextDelta"/>s as steps commit text (stop strings already cut, a stop string that may
/// still be completing held back), then exactly one <see cref="Finished"/>, then completes the channel; an engine
/// failure completes it with the exception instead.
/// </summary>
public sealed class GenerationRequest
{
    private readonly Channel<GenerationEvent> _events =
        Channel.CreateUnbounded<GenerationEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    public GenerationRequest(string id, int[] prompt, GenerationOptions options, CancellationToken cancellation)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        if (prompt.Length == 0) throw new ArgumentException("A prompt needs at least one token.", nameof(prompt));
        options.Validate();
        Id = id;
        Prompt = prompt;
        Options = options;
        Cancellation = cancellation;
    }

    /// <summary>The request id every log line and the response carry.</summary>
    public string Id { get; }
    public int[] Prompt { get; }
    public GenerationOptions Options { get; }
    /// <summary>Cancelled when the client goes away: the engine frees the request's row at the next step boundary.</summary>
    public CancellationToken Cancellation { get; }
    public long ArrivedAt { get; } = Stopwatch.GetTimestamp();

    public ChannelReader<GenerationEvent> Events => _events.Reader;
    internal ChannelWriter<GenerationEvent> Writer => _events.Writer;
}

public abstract record GenerationEvent;

/// <summary>Text the request's last step committed.</summary>
public sealed record TextDelta(string Text) : GenerationEvent;

/// <summary>The request is over: its tokens (end of sequence excluded, cut at a stop string), text, reason and usage.</summary>
public sealed record Finished(IReadOnlyList<int> Tokens, string Text, StopReason Reason, GenerationUsage Usage) : GenerationEvent;

/// <summary>
/// What a request cost. <see cref="DraftedTokens"/> are candidate tokens verified for it (roots excluded) and
/// <see cref="AcceptedTokens"/> those of them it kept, so a plain decode has both 0 and a speculative one commits
/// <c>Steps + AcceptedTokens</c> tokens (less what a stop cuts).
/// </summary>
public sealed record GenerationUsage(int PromptTokens, int CompletionTokens, int Steps, int DraftedTokens, int AcceptedTokens,
                                     TimeSpan QueueTime, TimeSpan? TimeToFirstToken);
