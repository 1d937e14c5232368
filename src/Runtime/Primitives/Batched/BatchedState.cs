namespace Pardec.Runtime.Primitives.Batched;

using Pardec.Runtime.Decoding;

/// <summary>
/// The committed text of every row of a batched causal decode: one <see cref="TokenSequence"/> a row, each sized once.
/// Rows advance by different amounts per step (ragged acceptance) and stop independently (EOS, budget).
/// </summary>
public sealed class BatchedContext
{
    private readonly TokenSequence[] _rows;

    public BatchedContext(int batch, int maxLength)
    {
        Batch = batch;
        MaxLength = maxLength;
        _rows = new TokenSequence[batch];
        for (int b = 0; b < batch; b++) _rows[b] = new TokenSequence(maxLength);
    }

    public int Batch { get; }
    public int MaxLength { get; }

    /// <summary>Row <paramref name="row"/>'s committed tokens, room and stop reason.</summary>
    public TokenSequence Text(int row) => _rows[row];

    public int Length(int row) => _rows[row].Length;
    public int PromptLength(int row) => _rows[row].PromptLength;
    public ReadOnlySpan<int> Tokens(int row) => _rows[row].Tokens;
    public ReadOnlySpan<int> Generated(int row) => _rows[row].Generated;

    /// <summary>The row's last committed token: the next step's root, not yet in the target cache.</summary>
    public int Root(int row) => _rows[row].Last;

    public bool IsDone(int row) => _rows[row].Done;
    public StopReason? StopReason(int row) => _rows[row].StopReason;

    // A row's context holds at most maxLength - 1 tokens (the next step's root needs its slot).
    internal void Start(int row, ReadOnlySpan<int> prompt)
    {
        if (prompt.Length == 0) throw new ArgumentException($"Prompt {row} is empty; it needs at least one token (a BOS token will do).");
        if (prompt.Length >= MaxLength) throw new ArgumentException($"Prompt {row} has {prompt.Length} tokens; the decoder was built for at most {MaxLength - 1}.");
        _rows[row].Start(prompt, room: MaxLength - 1 - prompt.Length);
    }
}

/// <summary>
/// One step's candidates for every row: column 0 is the row's root, columns 1..draftLength the drafted chain.
/// All rows carry the same width, so the whole batch is verified in one forward.
/// </summary>
public sealed class BatchedChain
{
    private readonly int[] _tokens; // [batch, width] row-major

    public BatchedChain(int batch, int draftLength)
    {
        Batch = batch;
        Width = draftLength + 1;
        _tokens = new int[batch * Width];
    }

    public int Batch { get; }

    /// <summary>Root plus drafted tokens per row.</summary>
    public int Width { get; }

    public int this[int row, int column]
    {
        get => _tokens[row * Width + column];
        set => _tokens[row * Width + column] = value;
    }

    public ReadOnlySpan<int> Row(int row) => _tokens.AsSpan(row * Width, Width);
}

/// <summary>Per row: how many drafted tokens were accepted and the target's own next token after them.</summary>
public sealed class BatchedStepOutcome
{
    private readonly int[] _accepted, _next;

    public BatchedStepOutcome(int batch)
    {
        _accepted = new int[batch];
        _next = new int[batch];
    }

    public int Accepted(int row) => _accepted[row];
    public int NextToken(int row) => _next[row];

    public void Set(int row, int accepted, int next) { _accepted[row] = accepted; _next[row] = next; }
}
