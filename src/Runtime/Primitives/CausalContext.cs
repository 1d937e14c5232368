using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives;

/// <summary>
/// The committed sequence of a causal decode (prompt + generated tokens) in a host buffer sized once for the maximum
/// length, plus what proposers may read between steps. The last committed token is the next step's root.
/// </summary>
public sealed class CausalContext
{
    private readonly int[] _tokens;

    public CausalContext(int maxLength)
    {
        _tokens = new int[maxLength];
        MaxLength = maxLength;
    }

    public int MaxLength { get; }
    public int Length { get; private set; }
    public int PromptLength { get; private set; }

    /// <summary>Committed tokens, prompt included.</summary>
    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Length);

    /// <summary>Tokens produced after the prompt.</summary>
    public ReadOnlySpan<int> Generated => _tokens.AsSpan(PromptLength, Length - PromptLength);

    /// <summary>The step's root: the last committed token, whose key/value is not in the target cache yet.</summary>
    public int Root => _tokens[Length - 1];

    /// <summary>
    /// The target's final hidden state <c>[hidden]</c> at the node that produced the root (the previous step's last
    /// accepted node), for proposers that read it (Medusa heads). Null until the first verification.
    /// </summary>
    public Tensor? RootHidden { get; private set; }

    /// <summary>The target's pick at each node of the last verified tree (for Jacobi-style proposers).</summary>
    public ReadOnlySpan<long> LastPicks => _lastPicks.AsSpan(0, _lastPickCount);
    private long[] _lastPicks = Array.Empty<long>();
    private int _lastPickCount;

    public void Start(ReadOnlySpan<int> prompt)
    {
        if (prompt.Length == 0) throw new ArgumentException("The prompt must hold at least one token (a BOS token will do).", nameof(prompt));
        if (prompt.Length >= MaxLength) throw new ArgumentException($"The prompt has {prompt.Length} tokens; the decoder was built for at most {MaxLength - 1}.", nameof(prompt));
        prompt.CopyTo(_tokens);
        Length = PromptLength = prompt.Length;
        SetRootHidden(null);
        _lastPickCount = 0;
    }

    public void Append(int token) => _tokens[Length++] = token;

    /// <summary>Sets the root's hidden state, which the context then owns (disposes when replaced).</summary>
    public void SetRootHidden(Tensor? hidden)
    {
        if (!ReferenceEquals(RootHidden, _rootBuffer)) RootHidden?.Dispose();
        RootHidden = hidden;
    }

    /// <summary>
    /// Sets the root's hidden state to row <paramref name="index"/> of dense CPU rows <c>[n, hidden]</c>, copied into a
    /// buffer the context keeps (made on first use), so a step makes no tensor for it.
    /// </summary>
    public void SetRootHiddenRow(Tensor rows, int index)
    {
        long width = rows.size(1);
        if (_rootBuffer is null || _rootBuffer.size(0) != width || _rootBuffer.dtype != rows.dtype)
        {
            if (ReferenceEquals(RootHidden, _rootBuffer)) RootHidden = null;
            _rootBuffer?.Dispose();
            _rootBuffer = zeros(new[] { width }, rows.dtype).DetachFromDisposeScope();
        }
        int rowBytes = (int)(width * rows.ElementSize);
        rows.bytes.Slice(index * rowBytes, rowBytes).CopyTo(_rootBuffer.bytes);
        SetRootHidden(_rootBuffer);
    }

    private Tensor? _rootBuffer;

    /// <summary>Frees the root hidden state and the context's buffer for it.</summary>
    public void ReleaseHidden()
    {
        SetRootHidden(null);
        _rootBuffer?.Dispose();
        _rootBuffer = null;
    }

    public void SetLastPicks(ReadOnlySpan<long> picks)
    {
        if (_lastPicks.Length < picks.Length) _lastPicks = new long[Math.Max(picks.Length, 64)];
        picks.CopyTo(_lastPicks);
        _lastPickCount = picks.Length;
    }
}
