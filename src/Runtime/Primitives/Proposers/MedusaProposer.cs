using System.Runtime.InteropServices;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>
/// Medusa heads propose from the target's own hidden state (Cai et al. 2024; blockwise parallel decoding, Stern et
/// al. 2018, is the one-candidate-per-head chain). Head d reads the hidden state that produced the root and ranks
/// tokens for depth d + 1 below it; a static token tree (a Medusa choice list, precomputed at build time) says which
/// rank of which head each node takes. No extra model forward: the heads are one small matmul per head.
/// </summary>
public sealed class MedusaProposer : IProposer
{
    private readonly MedusaHeads _heads;
    private readonly Func<Tensor, Tensor>? _lmHead;
    private readonly int[] _parents;
    private readonly int[] _depths;
    private readonly int[] _choices;
    private readonly int[] _mapped;
    private readonly int _maxRank;
    private readonly long[] _ranked;

    /// <param name="parents">The static tree's parent of each node; node 0 is the root (parent -1).</param>
    /// <param name="depths">Depth of each node (root 0); node at depth d takes a token from head d - 1.</param>
    /// <param name="choices">Rank (0 = the head's top token) each node takes from its head.</param>
    public MedusaProposer(MedusaHeads heads, Func<Tensor, Tensor>? lmHead, int[] parents, int[] depths, int[] choices)
    {
        if (parents.Length != depths.Length || parents.Length != choices.Length || parents.Length == 0 || parents[0] != -1)
            throw new ArgumentException("A static tree needs equally long parent, depth and choice arrays with the root first.");
        int maxDepth = depths.Max();
        if (maxDepth > heads.Count)
            throw new ArgumentException($"The tree is {maxDepth} deep but there are only {heads.Count} Medusa heads.");
        _heads = heads;
        _lmHead = lmHead;
        _parents = parents;
        _depths = depths;
        _choices = choices;
        _mapped = new int[parents.Length];
        _maxRank = choices.Max() + 1;
        _ranked = new long[heads.Count * _maxRank];
    }

    /// <summary>The chain form: head d's top token at depth d + 1 (blockwise parallel decoding).</summary>
    public static MedusaProposer Chain(MedusaHeads heads, Func<Tensor, Tensor>? lmHead, int length)
    {
        var parents = new int[length + 1];
        var depths = new int[length + 1];
        for (int i = 0; i <= length; i++) { parents[i] = i - 1; depths[i] = i; }
        return new MedusaProposer(heads, lmHead, parents, depths, new int[length + 1]);
    }

    public bool NeedsHidden => true;
    public bool HasDistributions => false;

    public void Reset(CausalContext context) { }

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        var hidden = context.RootHidden;
        if (hidden is null) return; // the first step has no verified hidden state yet: a plain step
        using (var scope = NewDisposeScope())
        {
            var logits = _heads.Logits(hidden.unsqueeze(0), _lmHead).squeeze(0);        // [heads, vocab]
            var ranked = logits.topk(_maxRank, dim: -1).indexes.to(ScalarType.Int64);    // [heads, maxRank]
            if (ranked.device_type != DeviceType.CPU) ranked = ranked.cpu();
            MemoryMarshal.Cast<byte, long>(ranked.contiguous().bytes).CopyTo(_ranked);
        }
        _mapped[0] = 0;
        for (int i = 1; i < _parents.Length; i++)
        {
            int parent = _mapped[_parents[i]];
            if (parent == CandidateTree.NoNode) { _mapped[i] = CandidateTree.NoNode; continue; }
            int head = _depths[i] - 1;
            _mapped[i] = tree.AddChild(parent, (int)_ranked[head * _maxRank + _choices[i]], source);
        }
    }

    public void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome) { }

    public void Dispose() { }
}
