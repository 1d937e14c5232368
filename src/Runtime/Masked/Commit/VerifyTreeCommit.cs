using System.Runtime.InteropServices;
using Pardec.Runtime.Primitives;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Masked.Commit;

/// <summary>
/// Self speculative decoding for masked diffusion LMs (SSD, Gao et al. 2025, "Self Speculative Decoding for Diffusion
/// Large Language Models"): the model drafts several commits from its own predictions and verifies them through a
/// hierarchical verification tree in one batched forward, accepting exactly what one-token-per-step decoding
/// (<see cref="OneCommit"/>) would commit. Lossless: the output equals one-by-one decoding token for token.
/// </summary>
/// <remarks>
/// <para><b>Drafts.</b> The masked offsets of the block ranked as the reference ranks them (confidence descending, lowest
/// offset on ties): <c>o_1, o_2, …</c> with their predicted tokens. <c>o_1</c> is the reference's choice now, exactly.</para>
/// <para><b>Tree.</b> Level 1 is the single node "commit o_1". Level <c>j = 2..depth</c> has up to <c>width</c> nodes, the
/// children of the level-<c>j−1</c> spine node (drafts <c>o_1..o_{j−1}</c> committed): the spine node commits
/// <c>o_j</c> next, its siblings commit the next-ranked drafts <c>o_{j+1}, …, o_{j+width−1}</c> instead (the reference's
/// order often swaps two neighbours once a token is fixed); only spine nodes have children. Every node is a whole canvas
/// (the session's commit applied on a copy, EOS fill included), and all nodes are forwarded in ONE batched forward
/// (bidirectional attention: a node needs no tree mask, it is its own row). Rows: <c>1 + (depth − 1)·width</c>.</para>
/// <para><b>Verification.</b> Walk from the level-1 node: on the current node's canvas, the reference's choice is its most
/// confident masked offset in the block and that offset's argmax (exactly what <see cref="OneCommit"/> would compute on
/// that canvas, because the node's row is that canvas forwarded without a cache). If a child commits exactly that, it is
/// accepted and the walk continues from it (a sibling is a leaf, so the walk ends after it); otherwise the walk stops.
/// The last accepted node's predictions — from the same batch — are installed as the next step's, so every step after a
/// block's first costs one batched forward. With <c>width = 1</c> this is the chain of free draft-and-verify
/// (<see cref="DraftVerifyCommit"/>) with <c>depth</c> drafts. Greedy and <see cref="MaskedCacheMode.None"/> only.</para>
/// </remarks>
public sealed class VerifyTreeCommit : IDisposable
{
    private readonly StagedTensor _rows;  // [nodes, maxLength] int64: each node's canvas, written on the host
    private readonly Tensor _statsHost;   // [nodes, 3, maxLength] float64, CPU
    private readonly long[] _spine;       // the working canvas along the spine
    private readonly bool[] _spineMasked;
    private readonly long[] _draftTokens;  // by rank
    private readonly int[] _draftOffsets;  // by rank
    private readonly int[] _nodeOffset, _nodeLevel, _nodeRank; // per node: the offset it commits, its level, the draft's rank
    private readonly bool[] _nodeSpine;
    private readonly int[] _spineNode;     // level -> the spine node's row

    public VerifyTreeCommit(MaskedSession session, int depth, int width)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(depth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        if (session.CacheMode != MaskedCacheMode.None)
            throw new ArgumentException("A verification tree is lossless only without an approximate cache (cache none).", nameof(session));
        Depth = depth;
        Width = width;
        Nodes = 1 + (depth - 1) * width;
        int max = session.MaxLength;
        using (no_grad())
        {
            _rows = new StagedTensor([Nodes, max], ScalarType.Int64, session.Model.Device);
            _statsHost = zeros(Nodes, 3, max, ScalarType.Float64).DetachFromDisposeScope();
        }
        _spine = new long[max];
        _spineMasked = new bool[max];
        int ranks = depth + width;
        _draftTokens = new long[ranks];
        _draftOffsets = new int[ranks];
        _nodeOffset = new int[Nodes];
        _nodeLevel = new int[Nodes];
        _nodeRank = new int[Nodes];
        _nodeSpine = new bool[Nodes];
        _spineNode = new int[depth + 1];
    }

    /// <summary>Levels of the tree: the most commits one step can accept.</summary>
    public int Depth { get; }
    /// <summary>Candidates per level after the first (the spine's draft and its next-ranked alternatives).</summary>
    public int Width { get; }
    /// <summary>Canvases per batched forward.</summary>
    public int Nodes { get; }

    /// <summary>Drafts, builds the tree, verifies it in one batched forward, selects the accepted path and installs the next predictions.</summary>
    public void Select(MaskedSession session)
    {
        if (!session.Sampler.Settings.IsGreedy)
            throw new InvalidOperationException("The verification tree reproduces greedy one-per-step decoding; sampling is not supported.");
        if (session.Done) return;
        var block = session.Block;
        int s = session.BlockStart, e = session.BlockEnd, end = session.End, width = session.MaxLength;
        var canvas = session.Canvas;
        for (int p = 0; p < end; p++) { _spine[p] = canvas[p]; _spineMasked[p] = session.IsMasked(p); }

        // The drafts in the reference's order.
        int ranked = 0;
        foreach (int offset in session.Selection.Rank(block, block.Confidence))
        {
            if (ranked == _draftOffsets.Length) break;
            _draftOffsets[ranked] = offset;
            _draftTokens[ranked] = block.Tokens[offset];
            ranked++;
        }

        // The tree, level by level: the spine node of level j commits the first masked draft after the spine's, its
        // siblings the drafts ranked after that one. Each row is the spine's canvas plus that node's commit.
        var rowsHost = _rows.Span<long>();
        int nodes = 0, rank = 0;
        for (int level = 1; level <= Depth; level++)
        {
            while (rank < ranked && !_spineMasked[s + _draftOffsets[rank]]) rank++; // filled by an EOS on the spine
            if (rank == ranked) break;
            int candidates = level == 1 ? 1 : Width; // level 1: the reference's own choice, exactly
            int spineRow = -1, taken = 0;
            for (int r = rank; r < ranked && taken < candidates; r++)
            {
                int p = s + _draftOffsets[r];
                if (!_spineMasked[p]) continue;
                var row = rowsHost.Slice(nodes * width, end);
                _spine.AsSpan(0, end).CopyTo(row);
                Apply(session, row, null, p, _draftTokens[r], end);
                _nodeOffset[nodes] = _draftOffsets[r];
                _nodeLevel[nodes] = level;
                _nodeRank[nodes] = r;
                _nodeSpine[nodes] = taken == 0;
                if (taken == 0) spineRow = nodes;
                nodes++;
                taken++;
            }
            _spineNode[level] = spineRow;
            // The spine advances by its node's commit.
            Apply(session, _spine, _spineMasked, s + _draftOffsets[rank], _draftTokens[rank], end);
            rank++;
        }

        using (no_grad())
        using (NewDisposeScope())
        {
            _rows.Upload((long)nodes * width);
            var tokens = _rows.Device.narrow(0, 0, nodes).narrow(1, 0, end);
            var positions = session.Positions.narrow(1, 0, end).expand(nodes, end);
            var mask = session.AllTrue.expand(nodes, 1, end, end);
            session.CountForward(nodes);
            using var output = session.Model.Forward(tokens, positions, mask, null);
            var logits = output.Logits.narrow(1, s - session.Shift, end - s); // [nodes, span, vocab]: row p - Shift predicts p
            session.Score(logits, _statsHost);

            // Walk: from the current node, the reference's choice on its canvas must be one of its children's commit.
            var stats = MemoryMarshal.Cast<byte, double>(_statsHost.bytes);
            int current = 0; // level 1's node: the reference's choice now
            session.Selection.Add(_nodeOffset[0], _draftTokens[_nodeRank[0]]);
            while (_nodeSpine[current])
            {
                int level = _nodeLevel[current];
                var row = rowsHost.Slice(current * width, end);
                var rowStats = stats.Slice(current * 3 * width, 3 * width);
                int best = -1;
                for (int i = 0; i < e - s; i++)
                    if (row[s + i] == session.MaskTokenId && (best < 0 || rowStats[i] > rowStats[best])) best = i;
                if (best < 0) break;
                long token = (long)rowStats[width + best];
                int next = -1;
                for (int n = current + 1; n < nodes && _nodeLevel[n] <= level + 1; n++)
                    if (_nodeLevel[n] == level + 1 && _nodeOffset[n] == best && _draftTokens[_nodeRank[n]] == token) { next = n; break; }
                if (next < 0) break;
                session.Selection.Add(_nodeOffset[next], token);
                current = next;
            }
            session.InstallRow(_statsHost, current, s, end, logits[current]);
        }
    }

    // The session's commit on a working canvas: the token, then everything after an EOS becomes EOS.
    private static void Apply(MaskedSession session, Span<long> canvas, bool[]? masked, int p, long token, int end)
    {
        canvas[p] = token;
        if (masked is not null) masked[p] = false;
        if (!session.IsEos(token)) return;
        for (int q = p + 1; q < end; q++)
        {
            canvas[q] = session.EosToken;
            if (masked is not null) masked[q] = false;
        }
    }

    public void Dispose()
    {
        _rows.Dispose();
        _statsHost.Dispose();
    }
}
