namespace Pardec.Runtime.Decoding;

/// <summary>
/// The one stop/budget rule of every decode (causal, batched rows, masked canvases and the plain baseline): a
/// committed stop token ends it (<see cref="StopReason.EndOfSequence"/>); the request's token budget ends it
/// (<see cref="StopReason.MaxNewTokens"/>); before that, the room the decoder has left — its cache, its canvas, the
/// model's context — ends it (<see cref="StopReason.CacheFull"/>). Stop strings are text and cancellation is the
/// caller's: the loops apply those themselves, around this rule.
/// </summary>
public sealed class StopRule
{
    private readonly HashSet<int> _stopTokens = [];

    /// <summary>The request's token budget (<see cref="GenerationOptions.MaxNewTokens"/>).</summary>
    public int MaxNewTokens { get; private set; }

    /// <summary>Starts a decode: the stop tokens are the options' (<see cref="GenerationOptions.StopTokenIds"/>, with
    /// <paramref name="defaultEos"/> the tokenizer's or the model's ids) and the budget their <c>MaxNewTokens</c>.</summary>
    public void Start(GenerationOptions options, IReadOnlyList<int> defaultEos)
    {
        _stopTokens.Clear();
        _stopTokens.UnionWith(options.StopTokenIds(defaultEos));
        MaxNewTokens = options.MaxNewTokens;
    }

    /// <summary>Whether committing <paramref name="token"/> ends the decode (it is an end-of-sequence id).</summary>
    public bool IsStopToken(int token) => _stopTokens.Contains(token);

    /// <summary>
    /// Why the decode ends once <paramref name="generated"/> tokens are committed with room for <paramref name="room"/>
    /// generated tokens in all, or null while both leave more: the budget first, then the room.
    /// </summary>
    public StopReason? Exhausted(int generated, int room) =>
        generated >= MaxNewTokens ? StopReason.MaxNewTokens
        : generated >= room ? StopReason.CacheFull
        : null;

    /// <summary>Why the decode ends after committing <paramref name="token"/> as its <paramref name="generated"/>-th
    /// generated token (see <see cref="Exhausted"/>), or null.</summary>
    public StopReason? After(int token, int generated, int room) =>
        IsStopToken(token) ? StopReason.EndOfSequence : Exhausted(generated, room);
}
