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
    private readonly int _depth, _topK, _capacity, _maxBudget;
    private int _budget;
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
    // One algorithm for every device; on the CPU a proposal makes no tensor op outside the draft's forwards. Inputs are
    // written on the host from slot 0 of these buffers (and moved to the draft's device in one copy each where there is
    // one; each width's views made once), masks go in at full width (the model cuts them), the draft forwards into
    // preallocated outputs, and top-k is selected on the host from the logits (HostRows: in place on the CPU).
    private readonly StagedTensor _inTokens, _inPositions;          // [1, maxLength] int64
    private readonly StagedTensor _inMask;                          // [1, 1, maxLength, maxLength] bool
    private readonly Tensor?[] _inTokenViews, _inPositionViews, _inMaskRows;
    private readonly ForwardOutputs _outputs;                       // a step's forwards (a longer catch-up returns its own logits)
    private readonly HostRows _rows = new();
    private readonly float[] _exp;                                  // [vocab] scratch for log-softmax normalisers

    /// <summary>Static tree: the draft fills <paramref name="shape"/> with its ranked tokens.</summary>
    /// <param name="budget">Most nodes proposed per step (the shape's first ones); see <see cref="Budget"/>.</param>
    public DraftTreeProposer(ICausalLM draft, int maxLength, DraftTreeShape shape, int budget = int.MaxValue)
        : this(draft, maxLength, shape, 0, 0, budget) { }

    /// <summary>Dynamic tree (EAGLE-2): <paramref name="depth"/> levels, beam and branching <paramref name="topK"/>.</summary>
    public DraftTreeProposer(ICausalLM draft, int maxLength, int depth, int topK, int budget = int.MaxValue)
        : this(draft, maxLength, null, depth, topK, budget) { }

    /// <summary>Either form: a static <paramref name="shape"/> (depth and topK unused), or a dynamic tree when it is null.</summary>
    public DraftTreeProposer(ICausalLM draft, int maxLength, DraftTreeShape? shape, int depth, int topK, int budget = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(budget);
        _draft = draft;
        _shape = shape;
        _budget = _maxBudget = budget;
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
        _slot = new int[MaxTreeNodes(maxLength)];
        _levelNodes = new int[_capacity];
        _nextLevel = new int[_capacity];
        _scores = new float[_capacity];
        _topTokens = new long[_capacity * _topK];
        _topScores = new float[_capacity * _topK];
        _shapeToTree = new int[_capacity];
        _rowOf = new int[_capacity];
        _inTokens = new StagedTensor([1, maxLength], ScalarType.Int64, draft.Device);
        _inPositions = new StagedTensor([1, maxLength], ScalarType.Int64, draft.Device);
        _inMask = new StagedTensor([1, 1, maxLength, maxLength], ScalarType.Bool, draft.Device);
        _inTokenViews = new Tensor?[maxLength + 1];
        _inPositionViews = new Tensor?[maxLength + 1];
        _inMaskRows = new Tensor?[maxLength + 1];
        // A step's catch-up is the accepted path and the new root: at most depth + 1 tokens.
        _outputs = new ForwardOutputs(draft, 1, Math.Min(maxLength, Math.Max(_capacity, _depth + 2)));
        _exp = new float[draft.Config.VocabSize];
    }

    // The step's tree may carry other proposers' nodes too; size the node→slot map for any tree that fits a verify.
    private static int MaxTreeNodes(int maxLength) => maxLength;

    public bool NeedsHidden => false;
    public bool HasDistributions => false;

    /// <summary>Most nodes (root included) this proposer adds: the verify width it needs.</summary>
    public int Capacity => _capacity;

    public int DraftForwards { get; private set; }

    /// <summary>
    /// Most nodes proposed per step, at most the budget the proposer was built for; a length state (<c>cost_aware</c>)
    /// sets it before each step. A static shape keeps its first <c>Budget</c> nodes (levels are stored in order and a
    /// node's parent before it, so any prefix is a tree); the dynamic beam stops after <c>Budget</c> nodes. 0 runs no
    /// draft forward at all: the cache lags and the next proposal catches up.
    /// </summary>
    public int Budget
    {
        get => _budget;
        set => _budget = Math.Clamp(value, 0, _maxBudget);
    }

    public void Reset(CausalContext context)
    {
        _cache.Truncate(0);
        _forwarded = 0;
        DraftForwards = 0;
    }

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        if (_budget == 0)
        {
            // Sat out (a plain step): no draft forward; Observe keeps the cache as it is, the next proposal catches up.
            _prefix = _cache.Length;
            _forwarded = 0;
            return;
        }
        var committed = context.Tokens;
        int have = _cache.Length;
        int n = committed.Length - have; // committed tokens the draft has not seen, root included
        _prefix = committed.Length;
        _forwarded = 0;
        _slot.AsSpan(0, Math.Min(_slot.Length, tree.Capacity)).Fill(-1);

        // After steps this proposer sat out, a catch-up can be wider than the outputs: the chunks before the last go
        // through them one at a time, so a steady-state step still makes no tensor.
        var pending = committed.Slice(have, n);
        int start = have;
        while (have > 0 && pending.Length > _outputs.Capacity)
        {
            using (CatchUp(start, pending[.._outputs.Capacity])) { }
            start += _outputs.Capacity;
            pending = pending[_outputs.Capacity..];
        }
        // A step makes no tensor; the first step's long catch-up (the prompt) makes a few.
        using var scope = pending.Length > _outputs.Capacity ? NewDisposeScope() : null;
        // Catch up: causal forward over the unseen committed tokens; the last row predicts the root's children.
        using var root = CatchUp(start, pending); // logits rows [m, vocab]: row m - 1 is the root's
        if (_shape is null) ProposeDynamic(tree, source, root.Logits, pending.Length - 1);
        else ProposeStatic(tree, source, root.Logits, pending.Length - 1);
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
                if (parentTree == CandidateTree.NoNode || i > _budget) continue; // the parent did not fit, or past the step's budget
                int token = (int)_topTokens[_rowOf[parents[i]] * _topK + choices[i]];
                int node = tree.AddChild(parentTree, token, source);
                _shapeToTree[i] = node;
                if (node == CandidateTree.NoNode) continue;
                // The deepest level is never forwarded: no node needs its children.
                if (d < shape.MaxDepth) { _rowOf[i] = rows; _levelNodes[rows++] = node; }
            }
            if (d == shape.MaxDepth || rows == 0 || shape.LevelStart(d + 1) > _budget) break; // nothing deeper is proposed
            logits = ForwardLevel(tree, rows); // one draft forward for the whole level
            first = 0;
            levelRows = rows;
        }
    }

    private void ProposeDynamic(CandidateTree tree, int source, Tensor rootLogits, int rootRow)
    {
        // Depth 1: the root's top-k, scored by log q.
        TopK(rootLogits, rootRow, 1, logProbScores: true);
        int frontier = 0, left = _budget;
        for (int j = 0; j < _topK && left > 0; j++, left--)
        {
            int node = tree.AddChild(0, (int)_topTokens[j], source);
            if (node == CandidateTree.NoNode) break;
            _levelNodes[frontier] = node;
            _scores[frontier++] = _topScores[j];
        }
        int vocab = _draft.Config.VocabSize;
        for (int d = 2; d <= _depth && frontier > 0 && left > 0; d++)
        {
            var logits = ForwardLevel(tree, frontier); // [frontier, vocab]
            // EAGLE-2 expansion: cumulative score of every (frontier node, child) pair; the global best k survive.
            BeamTopK(logits, frontier);
            int next = 0;
            for (int j = 0; j < _topK && left > 0; j++, left--)
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

    // Forwards committed tokens at positions [start, start + n) causally; the output's logits rows are [n, vocab] in
    // row-major order (borrowed from the preallocated outputs, or the forward's own for a catch-up wider than them).
    private ModelOutput CatchUp(int start, ReadOnlySpan<int> committed)
    {
        DraftForwards++;
        int n = committed.Length;
        var tokensIn = _inTokens.Span<long>();
        var positionsIn = _inPositions.Span<long>();
        var maskIn = _inMask.Span<bool>();
        int stride = (int)_inMask.Host.size(3);
        for (int i = 0; i < n; i++)
        {
            tokensIn[i] = committed[i];
            positionsIn[i] = start + i;
            var row = maskIn.Slice(i * stride, start + n);  // the model reads columns [0, start + n) only
            row[..(start + i + 1)].Fill(true);              // the cache and the new tokens up to itself
            row[(start + i + 1)..].Clear();
        }
        return Forward(n);
    }

    // The inputs' first n rows through the draft (moved to its device first, where there is one).
    private ModelOutput Forward(int n)
    {
        int stride = (int)_inMask.Host.size(3);
        _inTokens.Upload(n);
        _inPositions.Upload(n);
        _inMask.Upload((long)n * stride);
        var tokens = _inTokenViews[n] ??= _inTokens.Device.narrow(1, 0, n).DetachFromDisposeScope();
        var positions = _inPositionViews[n] ??= _inPositions.Device.narrow(1, 0, n).DetachFromDisposeScope();
        var rows = _inMaskRows[n] ??= _inMask.Device.narrow(2, 0, n).DetachFromDisposeScope();
        if (n > _outputs.Capacity) return _draft.Forward(tokens, positions, rows, _cache);
        _draft.ForwardInto(tokens, positions, rows, _cache, _outputs);
        return _outputs.Rows(n, hidden: false);
    }

    // Forwards tree nodes _levelNodes[0..m) after the prefix and the earlier levels, each attending to the prefix and
    // its own ancestors, at position (root position + depth). Returns their logits [m, vocab] (borrowed).
    private Tensor ForwardLevel(CandidateTree tree, int m)
    {
        DraftForwards++;
        int columns = _forwarded + m;       // tree columns this level sees
        // The level goes into the inputs' first m slots, each mask row at full width with the committed prefix and the
        // node's ancestors set.
        var staged = _inTokens.Span<long>();
        var positions = _inPositions.Span<long>();
        var treeMask = _inMask.Span<bool>();
        int stride = (int)_inMask.Host.size(3);
        for (int j = 0; j < m; j++)
        {
            int node = _levelNodes[j];
            _slot[node] = _forwarded + j;
            staged[j] = tree.Token(node);
            positions[j] = _prefix - 1 + tree.Depth(node);
            treeMask.Slice(j * stride, _prefix).Fill(true); // every node sees the committed prefix
            var row = treeMask.Slice(j * stride + _prefix, columns);
            row.Clear();
            // Ancestors below the root were forwarded at earlier levels; the root itself is the prefix's last slot.
            for (int a = node; a > 0; a = tree.Parent(a))
                if (a < _slot.Length && _slot[a] >= 0) row[_slot[a]] = true;
        }
        _forwarded += m;
        return Forward(m).Logits;
    }

    // Top-k tokens of rows [first, first + rows) of logits [*, vocab] into _topTokens/_topScores (row-major).
    private void TopK(Tensor logits, int first, int rows, bool logProbScores)
    {
        int vocab = _exp.Length;
        var all = _rows.Read(logits);
        for (int r = 0; r < rows; r++)
        {
            var row = all.Slice((first + r) * vocab, vocab);
            float shift = logProbScores ? -LogSumExp(row) : 0f; // log q = l - logsumexp(l): same order, scores as log q
            HostTopK.Select(row, _topTokens.AsSpan(r * _topK, _topK), _topScores.AsSpan(r * _topK, _topK), shift);
        }
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
        int vocab = _exp.Length;
        var all = _rows.Read(logits);
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
    }

    public void Dispose()
    {
        _cache.Dispose();
        foreach (var view in _inTokenViews.Concat(_inPositionViews).Concat(_inMaskRows)) view?.Dispose();
        _inTokens.Dispose(); _inPositions.Dispose(); _inMask.Dispose();
        _outputs.Dispose();
        _rows.Dispose();
    }
}
