namespace Pardec.Runtime.Primitives;

/// <summary>
/// What one verification step decided: the accepted path (tree nodes below the root, in order) and the next token —
/// the target's own token after the path (the "bonus" token, or the correction at the first rejection).
/// Preallocated once; rewritten each step.
/// </summary>
public sealed class StepOutcome
{
    private readonly int[] _accepted;
    private readonly int[] _acceptedTokens;

    public StepOutcome(int capacity)
    {
        _accepted = new int[capacity];
        _acceptedTokens = new int[capacity];
    }

    public int AcceptedCount { get; private set; }
    public int NextToken { get; set; }

    /// <summary>The node whose logits produced <see cref="NextToken"/>: the last accepted node, or the root.</summary>
    public int LastNode => AcceptedCount == 0 ? 0 : _accepted[AcceptedCount - 1];

    public ReadOnlySpan<int> AcceptedNodes => _accepted.AsSpan(0, AcceptedCount);
    public ReadOnlySpan<int> AcceptedTokens => _acceptedTokens.AsSpan(0, AcceptedCount);

    public void Clear() { AcceptedCount = 0; NextToken = -1; }

    public void Accept(int node, int token)
    {
        _accepted[AcceptedCount] = node;
        _acceptedTokens[AcceptedCount] = token;
        AcceptedCount++;
    }

    /// <summary>Cuts the accepted path to its first <paramref name="count"/> nodes (a stop token inside a draft).</summary>
    public void TruncateTo(int count) => AcceptedCount = Math.Min(AcceptedCount, count);
}
