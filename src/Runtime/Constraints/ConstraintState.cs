namespace Pardec.Runtime.Constraints;

/// <summary>
/// Where a decode stands in its constraint: the matcher state after each committed token, in a history sized once, so
/// speculation can look ahead from <see cref="Current"/> without touching it and a caller that must undo tokens rolls
/// back k of them in O(1). Nothing here allocates after construction.
/// </summary>
public sealed class ConstraintState
{
    private readonly int[] _history;
    private int _depth;

    public ConstraintState(int capacity) => _history = new int[capacity + 1];

    /// <summary>The constraint being followed, or null (unconstrained).</summary>
    public TokenMatcher? Matcher { get; private set; }

    public bool IsActive => Matcher is not null;

    /// <summary>The state after every token appended so far.</summary>
    public int Current => _history[_depth];

    /// <summary>Tokens appended since <see cref="Start"/>.</summary>
    public int Depth => _depth;

    public bool IsFinished => Current == TokenMatcher.Finished;

    /// <summary>No token can follow and the constraint is not complete (or it is complete and its end token is not allowed).</summary>
    public bool IsStuck => Matcher is { } m && Current >= 0 && m.AllowedCount(Current) == 0;

    public void Start(TokenMatcher? matcher)
    {
        Matcher = matcher;
        _depth = 0;
        _history[0] = matcher?.Start ?? 0;
    }

    /// <summary>Appends <paramref name="token"/>; returns false (and records <see cref="TokenMatcher.Dead"/>) if the constraint forbids it.</summary>
    public bool Advance(int token)
    {
        if (Matcher is null) return true;
        if (_depth + 1 >= _history.Length) throw new InvalidOperationException($"The constraint state holds at most {_history.Length - 1} tokens.");
        int next = Matcher.Next(_history[_depth], token);
        _history[++_depth] = next;
        return next != TokenMatcher.Dead;
    }

    /// <summary>Undoes the last <paramref name="tokens"/> appended tokens.</summary>
    public void Rollback(int tokens)
    {
        if (tokens < 0 || tokens > _depth) throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"only {_depth} tokens can be rolled back");
        _depth -= tokens;
    }
}
