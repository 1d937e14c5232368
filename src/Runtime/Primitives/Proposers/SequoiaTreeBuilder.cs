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
/// <para>Conventions against Sequoia's <c>tree_search.py</c>: its <c>T[m][l]</c> counts the root (the bonus token) in
/// both the value and the budget m, and its depth l counts the root's level; here the budget and depth count candidate
/// nodes only and <see cref="DraftTreeShape.ExpectedAccepted"/> excludes the bonus token, so tokens per step are
/// <c>1 + E</c>, Sequoia's budget m is our budget + 1 and its depth l our maxDepth + 1.</para>
/// </remarks>
public static class SequoiaTreeBuilder
{
    /// <summary>
    /// The tree of at most <paramref name="budget"/> candidate nodes (root excluded) and depth at most
    /// <paramref name="maxDepth"/> with the highest expected accepted length, in level order with siblings by rank.
    /// Nodes of acceptance probability 0 are left out, so the tree is smaller than the budget when too few nodes
    /// can ever be accepted (a rank the draft never gets right, or a depth limit).
    /// </summary>
    /// <param name="acceptanceByRank">p[r]: the plain per-rank hit rate, as <see cref="AcceptanceByRank"/> measures it.</param>
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
            // A node that can never be accepted only widens the verify: stop (every other candidate weighs 0 too).
            if (!(-priority.NegWeight > 0)) break;
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
    public static double[] MeasureAcceptanceByRank(ICausalLM target, ICausalLM draft, ReadOnlySpan<int> tokens, int maxRank) =>
        AcceptanceByRank(TargetRankUnderDraft(target, draft, tokens, maxRank), maxRank);

    /// <summary>
    /// The quantity <see cref="Build"/> and <see cref="DraftTreeShape.ExpectedAccepted"/> take: p[r] = the fraction of
    /// <paramref name="ranks"/> equal to r, i.e. the plain (unconditional) per-rank hit rate.
    /// </summary>
    /// <remarks>
    /// Greedy verification accepts the rank-r child of an accepted node iff the target's greedy token there is the
    /// draft's rank-r token. The draft's ranks are distinct tokens, so at most one child is accepted and the events
    /// "rank r hits" are disjoint: the probability that the rank-r child is accepted, given its parent was, is the
    /// plain hit rate — not the rate conditioned on ranks &lt; r missing (that would be p[r] / (1 - Σ_{j&lt;r} p[j]),
    /// the right input only for a verifier that tries siblings one after another with fresh randomness, as
    /// Sequoia's sampling-without-replacement does at temperature &gt; 0). Sequoia's greedy acceptance vector
    /// (<c>tests/test_accept.py</c>: how often the accepted child was the k-th) is this plain rate too.
    /// </remarks>
    public static double[] AcceptanceByRank(ReadOnlySpan<int> ranks, int maxRank)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRank);
        if (ranks.IsEmpty) throw new ArgumentException("No positions to measure.", nameof(ranks));
        var p = new double[maxRank];
        foreach (int r in ranks)
            if (r >= 0 && r < maxRank) p[r]++;
        for (int r = 0; r < maxRank; r++) p[r] /= ranks.Length;
        return p;
    }

    /// <summary>
    /// At every position i of <paramref name="tokens"/>, the draft's rank of the target's greedy next token after
    /// <c>tokens[..(i + 1)]</c>: r when it is the draft's rank-r token for r &lt; <paramref name="maxRank"/>, else -1.
    /// One causal forward of each model over the whole sequence (teacher forcing), so the sequence must fit both
    /// models' positions; cut longer text into windows.
    /// </summary>
    public static int[] TargetRankUnderDraft(ICausalLM target, ICausalLM draft, ReadOnlySpan<int> tokens, int maxRank)
    {
        if (tokens.Length < 2) throw new ArgumentException("Need at least two tokens to measure anything.", nameof(tokens));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRank);
        int n = tokens.Length;
        int positions = Math.Min(target.Config.MaxPositionEmbeddings, draft.Config.MaxPositionEmbeddings);
        if (n > positions)
            throw new ArgumentException($"{n} tokens do not fit the models' {positions} positions; measure windows of at most {positions}.", nameof(tokens));
        var ids = new long[n];
        for (int i = 0; i < n; i++) ids[i] = tokens[i];
        var ranks = new int[n];
        using (no_grad())
        using (NewDisposeScope())
        {
            var input = tensor(ids, ScalarType.Int64).view(1, n);
            var at = arange(n, dtype: ScalarType.Int64).view(1, n);
            var mask = ones(n, n, ScalarType.Bool).tril_().view(1, 1, n, n);
            using var t = target.Forward(input.to(target.Device), at.to(target.Device), mask.to(target.Device), null);
            using var d = draft.Forward(input.to(draft.Device), at.to(draft.Device), mask.to(draft.Device), null);
            var targetPick = t.Logits[0].argmax(-1).cpu();                                                     // [n]
            var draftRanks = d.Logits[0].topk(Math.Min(maxRank, draft.Config.VocabSize), dim: -1).indexes.cpu(); // [n, k]
            // [n, k] one-hot hit matrix → rank of the hit, or -1: argmax of (hit ? k - r : 0) picks the only hit.
            var hits = draftRanks.eq(targetPick.unsqueeze(1));                                                   // [n, k] bool
            var any = hits.any(1).to(ScalarType.Int64);                                                          // [n]
            var rank = hits.to(ScalarType.Int64).argmax(1) * any + (any - 1);                                    // [n]: rank or -1
            var host = rank.data<long>();
            for (int i = 0; i < n; i++) ranks[i] = (int)host[i];
        }
        return ranks;
    }

    /// <summary>
    /// Replays greedy tree verification of <paramref name="shape"/> over a sequence the target generated greedily:
    /// each step's root is the last committed token at position i, node v at depth d is accepted iff its parent was
    /// and <c>ranks[i + d - 1]</c> (from <see cref="TargetRankUnderDraft"/>) is v's rank, and the step commits the
    /// accepted path plus the target's bonus token. Exact for greedy decoding, because on the target's own greedy
    /// output every accepted prefix is the committed text, so the teacher-forced draft ranks are the ones the tree saw.
    /// Unlike <see cref="DraftTreeShape.ExpectedAccepted"/> it keeps the correlation between depths that positional
    /// acceptance assumes away.
    /// </summary>
    /// <param name="ranks">Per position of the whole sequence (prompt and generated).</param>
    /// <param name="firstRoot">Position of the last prompt token (the first step's root).</param>
    /// <returns>Steps, and tokens committed (= <c>ranks.Length - 1 - firstRoot</c>, the generated tokens).</returns>
    public static (int Steps, int Tokens) ReplayGreedy(DraftTreeShape shape, ReadOnlySpan<int> ranks, int firstRoot)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentOutOfRangeException.ThrowIfNegative(firstRoot);
        int last = ranks.Length - 1; // position of the last generated token
        if (firstRoot > last) throw new ArgumentOutOfRangeException(nameof(firstRoot), firstRoot, "The first root must be inside the sequence.");
        var parents = shape.Parents;
        var choices = shape.Choices;
        int steps = 0;
        for (int root = firstRoot; root < last; steps++)
        {
            int node = 0, depth = 0;
            // Children of a node come after it in level order; find the one taking the target's rank, if any.
            while (root + depth < last && ranks[root + depth] >= 0)
            {
                int wanted = ranks[root + depth], child = -1;
                for (int c = node + 1; c < parents.Length; c++)
                    if (parents[c] == node && choices[c] == wanted) { child = c; break; }
                if (child < 0) break;
                node = child;
                depth++;
            }
            root = Math.Min(last, root + depth + 1); // the accepted path, then the bonus token (cut at the budget)
        }
        return (steps, last - firstRoot);
    }
}
