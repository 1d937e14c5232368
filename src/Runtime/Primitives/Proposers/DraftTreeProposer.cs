using System.Runtime.InteropServices;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>
/// A draft model expands a token tree that the target verifies in one forward (tree speculative decoding:
/// SpecInfer, Miao et al. 2024; Sequoia, Chen et al. 2024; EAGLE-2, Li et al. 2024 — here with an ordinary draft
/// LM instead of EAGLE's feature head). Two modes:
/// <list type="bullet">
/// <item><b>Static</b> (<see cref="DraftTreeShape"/>, e.g. from <see cref="SequoiaTreeBuilder"/>): node i takes the
/// draft's rank-<c>choices[i]</c> token at its parent; one draft forward per depth over that level's nodes.</item>
/// <item><b>Dynamic</b> (EAGLE-2's beam, <c>cnets.py::topK_genrate</c>): the root's top-k children form the first
/// frontier; at each further depth every frontier node's top-k children are scored by cumulative draft
/// log-probability and the best k of the k² become the next frontier. At most k·depth nodes. EAGLE-2's final rerank
/// to a total-token budget is not applied: every expanded node is verified.</item>
/// </list>
/// The draft's cache holds the committed prefix; during a proposal the tree nodes it forwards are appended in
/// forward order under a tree attention mask (each node sees the prefix and its own ancestors, at position
/// <c>root + depth</c>). After the step the accepted path's draft keys are compacted into place (they are exactly
/// what a chain draft would have computed) and the rest is forgotten — the draft never recomputes an accepted token.
/// Candidates are deterministic (top-k), so <c>GreedyAcceptance</c> verifies them losslessly under greedy and seeded
/// sampling alike.
/// </summary>
public sealed class DraftTreeProposer : IProposer, IDraftCounter
{
    private readonly ICausalLM _draft;
    private readonly KVCache _cache;
    private readonly DraftTreeShape? _shape;
    private readonly int _depth, _topK, _capacity;
    private readonly Tensor _tokensHost, _positionsHost;   // [1, maxLength] int64 staging
    private readonly Tensor _tokens, _positions;           // [1, maxLength] int64 on the draft's device
    private readonly Tensor _causal;                       // [maxLength, maxLength] bool lower-triangular (catch-up)
    private readonly Tensor _treeMaskHost;                 // [capacity * capacity] bool: row-major [m, slots] per level
    private readonly Tensor _mask;                         // [1, 1, capacity, maxLength] bool on the device
    private readonly Tensor _scoresHost, _scoresDevice;    // [capacity] float32: the frontier's cumulative log q (dynamic)
    private readonly int[] _slot;          // draft-cache slot (relative to the committed prefix) of each tree node, -1 = none
    private readonly int[] _levelNodes;    // this level's tree nodes, in forward order
    private readonly int[] _nextLevel;     // next level's tree nodes (dynamic mode)
    private readonly float[] _scores;      // cumulative log q of the frontier (dynamic mode)
    private readonly long[] _topTokens;    // [capacity * k] the level's top-k tokens per forwarded node
    private readonly float[] _topScores;   // [capacity * k] matching scores (dynamic: cumulative log q)
    private readonly int[] _shapeToTree;   // static mode: tree node of each shape node (-1 if it did not fit)
    private readonly int[] _rowOf;         // static mode: row of each shape node in its level's draft forward (-1 = none)
    private int _prefix;                   // committed tokens in the draft cache during this step (root included)
    private int _forwarded;                // tree slots appended after the prefix this step
    // On the CPU a proposal makes no tensor op outside the draft's forwards: inputs are written from slot 0 of these
    // buffers (each width's views made once), masks go in at full width (the model cuts them), the draft forwards
    // into preallocated outputs, and top-k is selected on the host from the logits in place.
    private readonly bool _onHost;
    private readonly int _width;                                    // widest host forward (a longer catch-up takes the tensor path)
    private readonly Tensor? _inTokens, _inPositions;               // [1, width] int64
    private readonly Tensor? _inMask;                               // [1, 1, width, maxLength] bool
    private readonly Tensor?[]? _inTokenViews, _inPositionViews, _inMaskRows;
    private readonly ForwardOutputs? _outputs;
    private readonly float[]? _exp;                                 // [vocab] scratch for log-softmax normalisers

    /// <summary>Static tree: the draft fills <paramref name="shape"/> with its ranked tokens.</summary>
    public DraftTreeProposer(ICausalLM draft, int maxLength, DraftTreeShape shape)
        : this(draft, maxLength, shape, 0, 0) { }

    /// <summary>Dynamic tree (EAGLE-2): <paramref name="depth"/> levels, beam and branching <paramref name="topK"/>.</summary>
    public DraftTreeProposer(ICausalLM draft, int maxLength, int depth, int topK)
        : this(draft, maxLength, null, depth, topK) { }

    /// <summary>Either form: a static <paramref name="shape"/> (depth and topK unused), or a dynamic tree when it is null.</summary>
    public DraftTreeProposer(ICausalLM draft, int maxLength, DraftTreeShape? shape, int depth, int topK)
    {
        _draft = draft;
        _shape = shape;
        if (shape is null)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(depth);
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(topK);
            if (topK > draft.Config.VocabSize) throw new ArgumentOutOfRangeException(nameof(topK), topK, "top-k exceeds the draft's vocabulary.");
            _depth = depth;
            _topK = topK;
            _capacity = 1 + depth * topK;
        }
        else
        {
            if (shape.MaxRank > draft.Config.VocabSize) throw new ArgumentException("The shape asks for ranks beyond the draft's vocabulary.", nameof(shape));
            _depth = shape.MaxDepth;
            _topK = Math.Max(1, shape.MaxRank);
            _capacity = shape.Count;
        }
        _cache = draft.CreateCache(1, maxLength);
        _tokensHost = zeros(1, maxLength, ScalarType.Int64);
        _positionsHost = zeros(1, maxLength, ScalarType.Int64);
        _tokens = zeros(1, maxLength, ScalarType.Int64, draft.Device);
        _positions = zeros(1, maxLength, ScalarType.Int64, draft.Device);
        // tril_() returns a new handle: the scope disposes the intermediate (else it waits for the finaliser).
        using (NewDisposeScope()) _causal = ones(maxLength, maxLength, ScalarType.Bool, draft.Device).tril_().DetachFromDisposeScope();
        _treeMaskHost = zeros((long)_capacity * _capacity, ScalarType.Bool);
        _mask = zeros(new long[] { 1, 1, _capacity, maxLength }, ScalarType.Bool, draft.Device);
        _scoresHost = zeros(_capacity, ScalarType.Float32);
        _scoresDevice = zeros(_capacity, ScalarType.Float32, draft.Device);
        _slot = new int[MaxTreeNodes(maxLength)];
        _levelNodes = new int[_capacity];
        _nextLevel = new int[_capacity];
        _scores = new float[_capacity];
        _topTokens = new long[_capacity * _topK];
        _topScores = new float[_capacity * _topK];
        _shapeToTree = new int[_capacity];
        _rowOf = new int[_capacity];
        _onHost = draft.Device.type == DeviceType.CPU;
        if (_onHost)
        {
            // A step's catch-up is the accepted path and the new root: at most depth + 1 tokens.
            _width = Math.Min(maxLength, Math.Max(_capacity, _depth + 2));
            _inTokens = zeros(1, _width, ScalarType.Int64);
            _inPositions = zeros(1, _width, ScalarType.Int64);
            _inMask = zeros(new long[] { 1, 1, _width, maxLength }, ScalarType.Bool);
            _inTokenViews = new Tensor?[_width + 1];
            _inPositionViews = new Tensor?[_width + 1];
            _inMaskRows = new Tensor?[_width + 1];
            _outputs = new ForwardOutputs(draft, 1, _width);
            _exp = new float[draft.Config.VocabSize];
        }
    }

    // The step's tree may carry other proposers' nodes too; size the node→slot map for any tree that fits a verify.
    private static int MaxTreeNodes(int maxLength) => maxLength;

    public bool NeedsHidden => false;
    public bool HasDistributions => false;

    /// <summary>Most nodes (root included) this proposer adds: the verify width it needs.</summary>
    public int Capacity => _capacity;

    public int DraftForwards { get; private set; }

    public void Reset(CausalContext context)
    {
        _cache.Truncate(0);
        _forwarded = 0;
        DraftForwards = 0;
    }

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        var committed = context.Tokens;
        int have = _cache.Length;
        int n = committed.Length - have; // committed tokens the draft has not seen, root included
        var staged = MemoryMarshal.Cast<byte, long>(_tokensHost.bytes);
        var positions = MemoryMarshal.Cast<byte, long>(_positionsHost.bytes);
        for (int i = 0; i < n; i++) { staged[have + i] = committed[have + i]; positions[have + i] = have + i; }
        _prefix = committed.Length;
        _forwarded = 0;
        _slot.AsSpan(0, Math.Min(_slot.Length, tree.Capacity)).Fill(-1);

        // The host path makes no tensor; a device, or the first step's long catch-up on the CPU, makes a few.
        using var scope = _onHost && n <= _width ? null : NewDisposeScope();
        // Catch up: causal forward over the unseen committed tokens; the last row predicts the root's children.
        var (rootLogits, rootRow) = CatchUp(have, n); // row rootRow of [rows, vocab]
        if (_shape is null) ProposeDynamic(tree, source, rootLogits, rootRow);
        else ProposeStatic(tree, source, rootLogits, rootRow);
    }

    private void ProposeStatic(CandidateTree tree, int source, Tensor rootLogits, int rootRow)
    {
        var shape = _shape!;
        var parents = shape.Parents;
        var choices = shape.Choices;
        _shapeToTree[0] = 0;
        _rowOf[0] = 0;
        var logits = rootLogits; // [rows, vocab]: row first + _rowOf[s] predicts the children of shape node s
        int first = rootRow, levelRows = 1;
        for (int d = 1; d <= shape.MaxDepth; d++)
        {
            TopK(logits, first, levelRows, logProbScores: false);
            int start = shape.LevelStart(d), count = shape.LevelCount(d);
            int rows = 0;
            for (int i = start; i < start + count; i++)
            {
                _rowOf[i] = -1;
                int parentTree = _shapeToTree[parents[i]];
                _shapeToTree[i] = CandidateTree.NoNode;
                if (parentTree == CandidateTree.NoNode) continue; // the parent did not fit the verify budget
                int token = (int)_topTokens[_rowOf[parents[i]] * _topK + choices[i]];
                int node = tree.AddChild(parentTree, token, source);
                _shapeToTree[i] = node;
                if (node == CandidateTree.NoNode) continue;
                // The deepest level is never forwarded: no node needs its children.
                if (d < shape.MaxDepth) { _rowOf[i] = rows; _levelNodes[rows++] = node; }
            }
            if (d == shape.MaxDepth || rows == 0) break;
            logits = ForwardLevel(tree, rows); // one draft forward for the whole level
            first = 0;
            levelRows = rows;
        }
    }

    private void ProposeDynamic(CandidateTree tree, int source, Tensor rootLogits, int rootRow)
    {
        // Depth 1: the root's top-k, scored by log q.
        TopK(rootLogits, rootRow, 1, logProbScores: true);
        int frontier = 0;
        for (int j = 0; j < _topK; j++)
        {
            int node = tree.AddChild(0, (int)_topTokens[j], source);
            if (node == CandidateTree.NoNode) break;
            _levelNodes[frontier] = node;
            _scores[frontier++] = _topScores[j];
        }
        int vocab = _draft.Config.VocabSize;
        for (int d = 2; d <= _depth && frontier > 0; d++)
        {
            var logits = ForwardLevel(tree, frontier); // [frontier, vocab]
            // EAGLE-2 expansion: cumulative score of every (frontier node, child) pair; the global best k survive.
            BeamTopK(logits, frontier);
            int next = 0;
            for (int j = 0; j < _topK; j++)
            {
                long flat = _topTokens[j];
                int parentRow = (int)(flat / vocab);
                int token = (int)(flat % vocab);
                int node = tree.AddChild(_levelNodes[parentRow], token, source);
                if (node == CandidateTree.NoNode) break;
                _nextLevel[next] = node;
                _scores[next++] = _topScores[j];
            }
            _nextLevel.AsSpan(0, next).CopyTo(_levelNodes);
            frontier = next;
        }
    }

    /// <summary>Keeps the accepted path's draft keys (compacted after the prefix), forgets the rest of the tree.</summary>
    public void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome)
    {
        // Accepted node i holds context token _prefix + i. Keep its draft K/V if the draft forwarded it and it is not
        // the new root (the root is always caught up next step, which yields the logits for its children).
        var accepted = outcome.AcceptedNodes;
        int keep = 0;
        while (keep < accepted.Length && _prefix + keep < context.Length - 1
               && accepted[keep] < _slot.Length && _slot[accepted[keep]] >= 0) keep++;
        Span<long> offsets = stackalloc long[keep];
        for (int i = 0; i < keep; i++) offsets[i] = _slot[accepted[i]];
        _cache.Compact(_prefix, offsets); // offsets increase along a path: deeper nodes are forwarded later
        _forwarded = 0;
    }

    // Forwards staged committed tokens [start, start + n) causally; returns logits whose given row is the last token's.
    private (Tensor Logits, int Row) CatchUp(int start, int n)
    {
        DraftForwards++;
        if (_onHost && n <= _width)
        {
            var staged = MemoryMarshal.Cast<byte, long>(_tokensHost.bytes);
            var tokensIn = MemoryMarshal.Cast<byte, long>(_inTokens!.bytes);
            var positionsIn = MemoryMarshal.Cast<byte, long>(_inPositions!.bytes);
            var maskIn = MemoryMarshal.Cast<byte, bool>(_inMask!.bytes);
            int stride = (int)_inMask.size(3);
            for (int i = 0; i < n; i++)
            {
                tokensIn[i] = staged[start + i];
                positionsIn[i] = start + i;
                var row = maskIn.Slice(i * stride, start + n);  // the model reads columns [0, start + n) only
                row[..(start + i + 1)].Fill(true);              // the cache and the new tokens up to itself
                row[(start + i + 1)..].Clear();
            }
            return (HostForward(n), n - 1);
        }
        var tokens = _tokens.narrow(1, start, n);
        tokens.copy_(_tokensHost.narrow(1, start, n));
        var positions = _positions.narrow(1, start, n);
        positions.copy_(_positionsHost.narrow(1, start, n));
        var mask = _causal.narrow(0, start, n).narrow(1, 0, start + n).unsqueeze(0).unsqueeze(0); // [1, 1, n, start + n]
        using var output = _draft.Forward(tokens, positions, mask, _cache);
        return (output.Logits[0].narrow(0, n - 1, 1).clone(), 0);
    }

    // The host inputs' first n rows through the draft, into the preallocated outputs: logits [n, vocab], borrowed.
    private Tensor HostForward(int n)
    {
        var tokens = _inTokenViews![n] ??= _inTokens!.narrow(1, 0, n).DetachFromDisposeScope();
        var positions = _inPositionViews![n] ??= _inPositions!.narrow(1, 0, n).DetachFromDisposeScope();
        var rows = _inMaskRows![n] ??= _inMask!.narrow(2, 0, n).DetachFromDisposeScope();
        _draft.ForwardInto(tokens, positions, rows, _cache, _outputs!);
        return _outputs!.LogitRows(n);
    }

    // Forwards tree nodes _levelNodes[0..m) after the prefix and the earlier levels, each attending to the prefix and
    // its own ancestors, at position (root position + depth). Returns their logits [m, vocab].
    private Tensor ForwardLevel(CandidateTree tree, int m)
    {
        DraftForwards++;
        int first = _prefix + _forwarded;   // absolute slot of the level's first node
        int columns = _forwarded + m;       // tree columns this level sees
        // On the CPU the level goes straight into the host inputs' first m slots, each mask row at full width with
        // the committed prefix and the node's ancestors set; elsewhere into staging at absolute slots.
        var staged = MemoryMarshal.Cast<byte, long>(_onHost ? _inTokens!.bytes : _tokensHost.bytes);
        var positions = MemoryMarshal.Cast<byte, long>(_onHost ? _inPositions!.bytes : _positionsHost.bytes);
        var treeMask = MemoryMarshal.Cast<byte, bool>(_onHost ? _inMask!.bytes : _treeMaskHost.bytes);
        int stride = _onHost ? (int)_inMask!.size(3) : columns;
        int offset = _onHost ? _prefix : 0;
        int at = _onHost ? 0 : first;
        for (int j = 0; j < m; j++)
        {
            int node = _levelNodes[j];
            _slot[node] = _forwarded + j;
            staged[at + j] = tree.Token(node);
            positions[at + j] = _prefix - 1 + tree.Depth(node);
            if (_onHost) treeMask.Slice(j * stride, _prefix).Fill(true); // every node sees the committed prefix
            var row = treeMask.Slice(j * stride + offset, columns);
            row.Clear();
            // Ancestors below the root were forwarded at earlier levels; the root itself is the prefix's last slot.
            for (int a = node; a > 0; a = tree.Parent(a))
                if (a < _slot.Length && _slot[a] >= 0) row[_slot[a]] = true;
        }
        if (_onHost)
        {
            _forwarded += m;
            return HostForward(m);
        }
        var tokens = _tokens.narrow(1, first, m);
        tokens.copy_(_tokensHost.narrow(1, first, m));
        var pos = _positions.narrow(1, first, m);
        pos.copy_(_positionsHost.narrow(1, first, m));
        var mask = _mask.narrow(2, 0, m).narrow(3, 0, first + m);       // [1, 1, m, prefix + columns]
        mask.narrow(3, 0, _prefix).fill_(Scalars.True);                         // every node sees the committed prefix
        mask.narrow(3, _prefix, columns).copy_(_treeMaskHost.narrow(0, 0, (long)m * columns).view(1, 1, m, columns));
        _forwarded += m;
        using var output = _draft.Forward(tokens, pos, mask, _cache);
        return output.Logits[0].clone();
    }

    // Top-k tokens of rows [first, first + rows) of logits [*, vocab] into _topTokens/_topScores (row-major).
    private void TopK(Tensor logits, int first, int rows, bool logProbScores)
    {
        if (_onHost)
        {
            int vocab = (int)logits.size(1);
            var all = MemoryMarshal.Cast<byte, float>(logits.bytes);
            for (int r = 0; r < rows; r++)
            {
                var row = all.Slice((first + r) * vocab, vocab);
                float shift = logProbScores ? -LogSumExp(row) : 0f; // log q = l - logsumexp(l): same order, scores as log q
                HostTopK.Select(row, _topTokens.AsSpan(r * _topK, _topK), _topScores.AsSpan(r * _topK, _topK), shift);
            }
            return;
        }
        var block = logits.narrow(0, first, rows);
        var source = logProbScores ? block.log_softmax(-1) : block;
        var (values, indices) = source.topk(_topK, dim: -1);                   // [rows, k] each
        CopyToHost(indices, values, rows * _topK);
    }

    // log(sum(exp(row))), computed around the row's maximum (vectorised).
    private float LogSumExp(ReadOnlySpan<float> row)
    {
        float max = System.Numerics.Tensors.TensorPrimitives.Max(row);
        var exp = _exp.AsSpan(0, row.Length);
        System.Numerics.Tensors.TensorPrimitives.Subtract(row, max, exp);
        System.Numerics.Tensors.TensorPrimitives.Exp(exp, exp);
        return max + MathF.Log(System.Numerics.Tensors.TensorPrimitives.Sum(exp));
    }

    // EAGLE-2's step: scores [frontier] + log q [frontier, vocab], flattened; the best k flat indices (parentRow * vocab + token).
    private void BeamTopK(Tensor logits, int frontier)
    {
        if (_onHost)
        {
            int vocab = (int)logits.size(1);
            var all = MemoryMarshal.Cast<byte, float>(logits.bytes);
            var best = _topTokens.AsSpan(0, _topK);
            var bestScores = _topScores.AsSpan(0, _topK);
            int count = 0;
            for (int r = 0; r < frontier; r++)
            {
                var row = all.Slice(r * vocab, vocab);
                float shift = _scores[r] - LogSumExp(row); // cumulative log q of (frontier node r, token v) = shift + l_v
                HostTopK.OfferRange(row, (long)r * vocab, shift, best, bestScores, ref count);
            }
            if (count < _topK) best[count..].Clear();
            return;
        }
        var scoresHost = MemoryMarshal.Cast<byte, float>(_scoresHost.bytes);
        _scores.AsSpan(0, frontier).CopyTo(scoresHost);
        var scores = _scoresDevice.narrow(0, 0, frontier);
        scores.copy_(_scoresHost.narrow(0, 0, frontier));
        var cumulative = logits.log_softmax(-1).add(scores.unsqueeze(1), Scalars.One); // [frontier, vocab]; explicit alpha: see Scalars
        var (values, indices) = cumulative.view(-1).topk(Math.Min(_topK, frontier * (int)logits.shape[1])); // [k]
        CopyToHost(indices, values, (int)indices.shape[0]);
        if (indices.shape[0] < _topK) _topTokens.AsSpan((int)indices.shape[0], _topK - (int)indices.shape[0]).Clear();
    }

    private void CopyToHost(Tensor indices, Tensor values, int count)
    {
        var i = indices.device_type == DeviceType.CPU ? indices.contiguous() : indices.cpu().contiguous();
        var v = values.to(ScalarType.Float32);
        v = v.device_type == DeviceType.CPU ? v.contiguous() : v.cpu().contiguous();
        MemoryMarshal.Cast<byte, long>(i.bytes).Slice(0, count).CopyTo(_topTokens);
        MemoryMarshal.Cast<byte, float>(v.bytes).Slice(0, count).CopyTo(_topScores);
    }

    public void Dispose()
    {
        _cache.Dispose();
        _tokensHost.Dispose(); _positionsHost.Dispose(); _tokens.Dispose(); _positions.Dispose();
        _causal.Dispose(); _treeMaskHost.Dispose(); _mask.Dispose();
        _scoresHost.Dispose(); _scoresDevice.Dispose();
        foreach (var view in (_inTokenViews ?? []).Concat(_inPositionViews ?? []).Concat(_inMaskRows ?? [])) view?.Dispose();
        _inTokens?.Dispose(); _inPositions?.Dispose(); _inMask?.Dispose();
        _outputs?.Dispose();
    }
}
