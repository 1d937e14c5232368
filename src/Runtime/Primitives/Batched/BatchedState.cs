namespace Pardec.Runtime.Primitives.Batched;

/// <summary>
/// The committed text of every row of a batched causal decode, each in a host buffer sized once. Rows advance by
/// different amounts per step (ragged acceptance) and stop independently (EOS, budget).
/// </summary>
public sealed class BatchedContext
{
    private readonly int[] _tokens;   // [batch, maxLength] row-major
    private readonly int[] _length, _promptLength;
    private readonly Decoding.StopReason?[] _stop;

    public BatchedContext(int batch, int maxLength)
    {
        Batch = batch;
        MaxLength = maxLength;
        _tokens = new int[batch * maxLength];
        _length = new int[batch];
        _promptLength = new int[batch];
        _stop = new Decoding.StopReason?[batch];
    }

    public int Batch { get; }
    public int MaxLength { get; }

    public int Length(int row) => _length[row];
    public int PromptLength(int row) => _promptLength[row];
    public ReadOnlySpan<int> Tokens(int row) => _tokens.AsSpan(row * MaxLength, _length[row]);
    public ReadOnlySpan<int> Generated(int row) => _tokens.AsSpan(row * MaxLength + _promptLength[row], _length[row] - _promptLength[row]);

    /// <summary>The row's last committed token: the next step's root, not yet in the target cache.</summary>
    public int Root(int row) => _tokens[row * MaxLength + _length[row] - 1];

    public bool IsDone(int row) => _stop[row] is not null;
    public Decoding.StopReason? StopReason(int row) => _stop[row];

    internal void Start(int row, ReadOnlySpan<int> prompt)
    {
        if (prompt.Length == 0) throw new ArgumentException($"Prompt {row} is empty; it needs at least one token (a BOS token will do).");
        if (prompt.Length >= MaxLength) throw new ArgumentException($"Prompt {row} has {prompt.Length} tokens; the decoder was built for at most {MaxLength - 1}.");
        prompt.CopyTo(_tokens.AsSpan(row * MaxLength));
        _length[row] = _promptLength[row] = prompt.Length;
        _stop[row] = null;
    }

    internal void Append(int row, int token) => _tokens[row * MaxLength + _length[row]++] = token;
    internal void Stop(int row, Decoding.StopReason reason) => _stop[row] = reason;
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
