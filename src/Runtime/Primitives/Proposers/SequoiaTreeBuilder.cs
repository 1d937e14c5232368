using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>
/// Sequoia's tree construction (Chen et al., NeurIPS 2024, arXiv 2402.12374): given measured positional acceptance
/// probabilities <c>p[r]</c> — how often the target's token equals the draft's rank-r token — choose the draft tree of
/// a node budget that maximises the expected number of accepted tokens per step.
/// </summary>
/// <remarks>
/// <para>Implemented: the greedy construction, not Sequoia's <c>T[m][l][b]</c> dynamic program. They give the same
/// optimum under Sequoia's own model, for the following reason.</para>
/// <para>Under positional acceptance (each depth independent, the rank-r child of an accepted node is accepted with
/// probability p[r]), a node v is accepted iff its whole root path is, so the step's expected accepted length is
/// <c>E = Σ_{v in tree} w(v)</c> with <c>w(v) = Π_{u on path(v)} p[rank(u)]</c>. Any tree is an ancestor-closed set of
/// nodes of the infinite rank tree, and since every p[r] ≤ 1, <c>w(child) ≤ w(parent)</c>.</para>
/// <para>Claim: the B nodes of largest weight (ties broken toward the shallower node) form an ancestor-closed set, so
/// they are a valid tree, and no tree of B nodes beats them, since any B nodes weigh at most the B largest weights.
/// The set is ancestor-closed because a node's parent weighs at least as much and is shallower, so it ranks ahead.
/// The greedy loop (repeatedly add the frontier node of highest path probability) picks exactly that top-B set: the
/// highest-weight node not yet chosen always has its parent chosen (by the same argument), so it is on the frontier.
/// A depth limit just removes the nodes deeper than it from the infinite tree; the argument holds unchanged, and so
/// does a rank limit. Sequoia's DP additionally forces children to take ranks 1..b contiguously; with non-increasing
/// p[r] (what a calibrated draft gives) that constraint is never binding (a rank never outweighs a smaller one, so the
/// top-B set is rank-contiguous too), and with noisy measured p the greedy tree is at least as good, because our
/// shapes may skip a rank.</para>
/// </remarks>
public static class SequoiaTreeBuilder
{
    /// <summary>
    /// The tree of at most <paramref name="budget"/> candidate nodes (root excluded) and depth at most
    /// <paramref name="maxDepth"/> with the highest expected accepted length, in level order with siblings by rank.
    /// </summary>
    public static DraftTreeShape Build(ReadOnlySpan<double> acceptanceByRank, int budget, int maxDepth = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(budget);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxDepth);
        for (int r = 0; r < acceptanceByRank.Length; r++)
            if (!(acceptanceByRank[r] >= 0 && acceptanceByRank[r] <= 1))
                throw new ArgumentOutOfRangeException(nameof(acceptanceByRank), acceptanceByRank[r], $"p[{r}] must be a probability.");
        int ranks = acceptanceByRank.Length;
        var p = acceptanceByRank.ToArray(); // the frontier's local function cannot capture a span

        // Chosen nodes in choice order: parent (index into these lists), rank, depth, weight.
        var parent = new List<int> { -1 };
        var rank = new List<int> { -1 };
        var depth = new List<int> { 0 };
        var weight = new List<double> { 1.0 };
        // Frontier: every rank under every chosen node is a candidate (ranks may be skipped, so the search space is all
        // ancestor-closed sets, the one the optimality argument is about). Priority: higher weight first, then
        // shallower (so a parent always beats an equally weighted child), then earlier chosen (deterministic output).
        var frontier = new PriorityQueue<(int Parent, int Rank), (double NegWeight, int Depth, int Parent, int Rank)>();
        void Offer(int node, int r)
        {
            if (r >= ranks || depth[node] + 1 > maxDepth) return;
            double w = weight[node] * p[r];
            frontier.Enqueue((node, r), (-w, depth[node] + 1, node, r));
        }
        for (int r = 0; r < ranks; r++) Offer(0, r);
        while (parent.Count - 1 < budget && frontier.TryDequeue(out var candidate, out var priority))
        {
            int node = parent.Count;
            parent.Add(candidate.Parent);
            rank.Add(candidate.Rank);
            depth.Add(priority.Depth);
            weight.Add(-priority.NegWeight);
            for (int r = 0; r < ranks; r++) Offer(node, r); // its own children
        }

        // Renumber in level order, siblings by rank: BFS over the chosen nodes.
        int count = parent.Count;
        var children = new List<int>[count];
        for (int i = 0; i < count; i++) children[i] = new List<int>();
        for (int i = 1; i < count; i++) children[parent[i]].Add(i);
        var order = new int[count];
        var newIndex = new int[count];
        int head = 0, tail = 0;
        order[tail++] = 0;
        while (head < tail)
        {
            int v = order[head++];
            newIndex[v] = head - 1;
            children[v].Sort((a, b) => rank[a].CompareTo(rank[b]));
            foreach (int c in children[v]) order[tail++] = c;
        }
        var parents = new int[count];
        var choices = new int[count];
        parents[0] = choices[0] = -1;
        for (int i = 1; i < count; i++)
        {
            parents[i] = newIndex[parent[order[i]]];
            choices[i] = rank[order[i]];
        }
        return new DraftTreeShape(parents, choices);
    }

    /// <summary>
    /// Measures p[r] for r &lt; <paramref name="maxRank"/> by teacher forcing over <paramref name="tokens"/>: one causal
    /// forward of each model over the text, and at every position the target's greedy next token is compared with the
    /// draft's top-<paramref name="maxRank"/> tokens. That is what greedy verification of a rank-r draft child would
    /// decide at that position (Sequoia's "acceptance rate vector", measured the same way on sample text).
    /// </summary>
    /// <returns>p[r] = fraction of positions where the target's token is the draft's rank-r token.</returns>
    public static double[] MeasureAcceptanceByRank(ICausalLM target, ICausalLM draft, ReadOnlySpan<int> tokens, int maxRank)
    {
        if (tokens.Length < 2) throw new ArgumentException("Need at least two tokens to measure anything.", nameof(tokens));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRank);
        int n = tokens.Length;
        var ids = new long[n];
        for (int i = 0; i < n; i++) ids[i] = tokens[i];
        var counts = new double[maxRank];
        using (no_grad())
        using (NewDisposeScope())
        {
            using var input = tensor(ids, ScalarType.Int64).view(1, n);
            using var positions = arange(n, dtype: ScalarType.Int64).view(1, n);
            using var mask = ones(n, n, ScalarType.Bool).tril_().view(1, 1, n, n);
            using var t = target.Forward(input.to(target.Device), positions.to(target.Device), mask.to(target.Device), null);
            using var d = draft.Forward(input.to(draft.Device), positions.to(draft.Device), mask.to(draft.Device), null);
            var targetPick = t.Logits[0].argmax(-1).cpu();                          // [n]
            var draftRanks = d.Logits[0].topk(maxRank, dim: -1).indexes.cpu();     // [n, maxRank]
            var equal = draftRanks.eq(targetPick.unsqueeze(1)).to(ScalarType.Float64).sum(0, false, ScalarType.Float64); // [maxRank]
            var host = equal.data<double>();
            for (int r = 0; r < maxRank; r++) counts[r] = host[r] / n;
        }
        return counts;
    }
}
