using Pardec.Runtime.Decoding;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives;

/// <summary>
/// The committed sequence of a causal decode (prompt + generated tokens) in a host buffer sized once for the maximum
/// length (a <see cref="TokenSequence"/>, which the session commits to), plus what proposers may read between steps.
/// The last committed token is the next step's root.
/// </summary>
public sealed class CausalContext
{
    public CausalContext(int maxLength) => Text = new TokenSequence(maxLength);

    /// <summary>The committed tokens, the room they have and why they ended.</summary>
    public TokenSequence Text { get; }

    public int MaxLength => Text.MaxLength;
    public int Length => Text.Length;
    public int PromptLength => Text.PromptLength;

    /// <summary>Committed tokens, prompt included.</summary>
    public ReadOnlySpan<int> Tokens => Text.Tokens;

    /// <summary>Tokens produced after the prompt.</summary>
    public ReadOnlySpan<int> Generated => Text.Generated;

    /// <summary>The step's root: the last committed token, whose key/value is not in the target cache yet.</summary>
    public int Root => Text.Last;

    /// <summary>
    /// The target's final hidden state <c>[hidden]</c> at the node that produced the root (the previous step's last
    /// accepted node), for proposers that read it (Medusa heads). Null until the first verification.
    /// </summary>
    public Tensor? RootHidden { get; private set; }

    /// <summary>The target's pick at each node of the last verified tree (for Jacobi-style proposers).</summary>
    public ReadOnlySpan<long> LastPicks => _lastPicks.AsSpan(0, _lastPickCount);
    private long[] _lastPicks = Array.Empty<long>();
    private int _lastPickCount;

    /// <summary>Starts at <paramref name="prompt"/>, with room for <paramref name="room"/> generated tokens (the session's).</summary>
    public void Start(ReadOnlySpan<int> prompt, int room = int.MaxValue)
    {
        if (prompt.Length == 0) throw new ArgumentException("The prompt must hold at least one token (a BOS token will do).", nameof(prompt));
        if (prompt.Length >= MaxLength) throw new ArgumentException($"The prompt has {prompt.Length} tokens; the decoder was built for at most {MaxLength - 1}.", nameof(prompt));
        Text.Start(prompt, room);
        SetRootHidden(null);
        _lastPickCount = 0;
    }

    /// <summary>Appends a token without the stop rule (a draft's own context; sessions commit through <see cref="Text"/>).</summary>
    public void Append(int token) => Text.Append(token);

    /// <summary>Sets the root's hidden state, which the context then owns (disposes when replaced).</summary>
    public void SetRootHidden(Tensor? hidden)
    {
        if (!ReferenceEquals(RootHidden, _rootBuffer)) RootHidden?.Dispose();
        RootHidden = hidden;
    }

    /// <summary>
    /// Sets the root's hidden state to row <paramref name="index"/> of <paramref name="rows"/> <c>[n, hidden]</c>, copied
    /// into a buffer the context keeps beside them (made on first use, on their device): on the CPU the row's bytes are
    /// copied in place, so a step makes no tensor for it; elsewhere one device copy.
    /// </summary>
    public void SetRootHiddenRow(Tensor rows, int index)
    {
        long width = rows.size(1);
        if (_rootBuffer is null || _rootBuffer.size(0) != width || _rootBuffer.dtype != rows.dtype || _rootBuffer.device_type != rows.device_type)
        {
            if (ReferenceEquals(RootHidden, _rootBuffer)) RootHidden = null;
            _rootBuffer?.Dispose();
            _rootBuffer = zeros(new[] { width }, rows.dtype, rows.device).DetachFromDisposeScope();
        }
        if (HostRows.OnHost(rows) && rows.is_contiguous())
        {
            int rowBytes = (int)(width * rows.ElementSize);
            rows.bytes.Slice(index * rowBytes, rowBytes).CopyTo(_rootBuffer.bytes);
        }
        else
            using (NewDisposeScope()) _rootBuffer.copy_(rows[index]);
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
