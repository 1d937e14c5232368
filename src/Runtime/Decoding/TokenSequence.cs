namespace Pardec.Runtime.Decoding;

/// <summary>
/// One decode's committed tokens (the prompt, then the generated text) in a host buffer sized once, the room the decoder
/// leaves it, and why it ended. This is the token buffer and commit every session shares: a causal decode has one, a
/// batched decode one per row, a masked canvas one for the text it has filled in order. Committing a token applies the
/// one <see cref="StopRule"/>, so no session keeps a stop reason or a budget test of its own.
/// </summary>
public sealed class TokenSequence
{
    private readonly int[] _tokens;

    public TokenSequence(int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        _tokens = new int[maxLength];
    }

    /// <summary>Most tokens (prompt included) the buffer holds.</summary>
    public int MaxLength => _tokens.Length;
    public int Length { get; private set; }
    public int PromptLength { get; private set; }
    public int GeneratedCount => Length - PromptLength;

    /// <summary>Generated tokens the decoder has room for in all (its cache or canvas, and the model's context).</summary>
    public int Room { get; private set; }

    /// <summary>Committed tokens, prompt included.</summary>
    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Length);

    /// <summary>Tokens committed after the prompt.</summary>
    public ReadOnlySpan<int> Generated => _tokens.AsSpan(PromptLength, Length - PromptLength);

    /// <summary>The last committed token.</summary>
    public int Last => _tokens[Length - 1];

    /// <summary>Why the sequence ended; null while it runs.</summary>
    public StopReason? StopReason { get; private set; }
    public bool Done => StopReason is not null;

    /// <summary>Starts a sequence at <paramref name="prompt"/> with room for <paramref name="room"/> generated tokens.</summary>
    public void Start(ReadOnlySpan<int> prompt, int room)
    {
        if (prompt.Length > MaxLength) throw new ArgumentException($"The prompt has {prompt.Length} tokens; the buffer holds {MaxLength}.", nameof(prompt));
        prompt.CopyTo(_tokens);
        Length = PromptLength = prompt.Length;
        Room = room;
        StopReason = null;
    }

    /// <summary>Appends a token without applying the stop rule (a draft's own context, or a canvas's filled text).</summary>
    public void Append(int token) => _tokens[Length++] = token;

    /// <summary>
    /// Commits <paramref name="token"/>: appends it and ends the sequence as <paramref name="rule"/> says (a stop token,
    /// then the budget, then the room). Returns whether the sequence goes on.
    /// </summary>
    public bool Commit(int token, StopRule rule)
    {
        Append(token);
        StopReason = rule.After(token, GeneratedCount, Room);
        return StopReason is null;
    }

    /// <summary>Ends the sequence if <paramref name="rule"/>'s budget or the room leave no more tokens (a decode whose
    /// budget is zero ends before its first step). Returns whether it goes on.</summary>
    public bool CheckBudget(StopRule rule)
    {
        StopReason ??= rule.Exhausted(GeneratedCount, Room);
        return StopReason is null;
    }

    /// <summary>Ends the sequence for a reason outside the rule (a constraint, a stop string, cancellation).</summary>
    public void Stop(StopReason reason) => StopReason = reason;

    /// <summary>Cuts the sequence back to its first <paramref name="length"/> tokens (at least the prompt); the stop reason stays.</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, PromptLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        Length = length;
    }
}
