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
/// <remarks>
/// With the heads' own LM heads or a target that lends its LM head weight (<see cref="ICausalLM.OutputWeight"/>), every
/// head runs in one compiled TorchScript call that writes the heads' logits into a preallocated buffer on their device,
/// and each head's top tokens are selected over host rows (<see cref="HostRows"/>: in place on the CPU, where a step
/// makes no tensor; one copy elsewhere). Otherwise — or with <see cref="CompiledEnabled"/> off, the reference the
/// compiled call is tested against — the heads run as eager modules with the target's <see cref="ICausalLM.LogitsFromHidden"/>.
/// </remarks>
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
    // The compiled path: the heads' parameters in the script's order, the shared LM head weight (or an empty tensor
    // when each head has its own), and the heads' logits [heads, vocab] float32. Null when the heads run eager.
    private readonly Tensor[]? _blockWeights, _blockBiases, _headWeights;
    private readonly Tensor? _sharedHead, _headLogits, _noSharedHead;
    private readonly float[]? _rankScores;
    private readonly HostRows _rows = new();

    /// <param name="heads">The Medusa heads.</param>
    /// <param name="target">The target, whose LM head the heads use when they share it (<see cref="MedusaHeads.SharedLmHead"/>).</param>
    /// <param name="parents">The static tree's parent of each node; node 0 is the root (parent -1).</param>
    /// <param name="depths">Depth of each node (root 0); node at depth d takes a token from head d - 1.</param>
    /// <param name="choices">Rank (0 = the head's top token) each node takes from its head.</param>
    public MedusaProposer(MedusaHeads heads, ICausalLM? target, int[] parents, int[] depths, int[] choices)
    {
        if (parents.Length != depths.Length || parents.Length != choices.Length || parents.Length == 0 || parents[0] != -1)
            throw new ArgumentException("A static tree needs equally long parent, depth and choice arrays with the root first.");
        int maxDepth = depths.Max();
        if (maxDepth > heads.Count)
            throw new ArgumentException($"The tree is {maxDepth} deep but there are only {heads.Count} Medusa heads.");
        if (heads.SharedLmHead && target is null)
            throw new ArgumentException("These Medusa heads share the target's LM head; pass the target.", nameof(target));
        _heads = heads;
        _lmHead = heads.SharedLmHead ? target!.LogitsFromHidden : null;
        _parents = parents;
        _depths = depths;
        _choices = choices;
        _mapped = new int[parents.Length];
        _maxRank = choices.Max() + 1;
        _ranked = new long[heads.Count * _maxRank];

        var first = heads.Parameters(0);
        var shared = heads.SharedLmHead ? target!.OutputWeight : null;
        if (!heads.SharedLmHead || shared is not null)
        {
            _blockWeights = new Tensor[heads.Count];
            _blockBiases = new Tensor[heads.Count];
            _headWeights = heads.SharedLmHead ? [] : new Tensor[heads.Count];
            for (int k = 0; k < heads.Count; k++)
            {
                var (weight, bias, head) = heads.Parameters(k);
                _blockWeights[k] = weight;
                _blockBiases[k] = bias;
                if (!heads.SharedLmHead) _headWeights[k] = head!;
            }
            int vocab = (int)(shared ?? _headWeights[0]).size(0);
            var device = first.Weight.device;
            _noSharedHead = shared is null ? zeros(0, device: device).DetachFromDisposeScope() : null;
            _sharedHead = shared ?? _noSharedHead;
            _headLogits = zeros(heads.Count, vocab, device: device).DetachFromDisposeScope();
            _rankScores = new float[_maxRank];
        }
    }

    /// <summary>The chain form: head d's top token at depth d + 1 (blockwise parallel decoding).</summary>
    public static MedusaProposer Chain(MedusaHeads heads, ICausalLM? target, int length) => new(heads, target, length);

    /// <summary>A chain: the top token of each of the first <paramref name="length"/> heads (blockwise parallel decoding).</summary>
    public MedusaProposer(MedusaHeads heads, ICausalLM? target, int length)
        : this(heads, target, ChainParents(length), ChainDepths(length), new int[length + 1]) { }

    private static int[] ChainParents(int length) => Enumerable.Range(-1, length + 1).ToArray();

    private static int[] ChainDepths(int length) => Enumerable.Range(0, length + 1).ToArray();

    /// <summary>Whether the heads may run as the compiled call where it applies (see remarks); on by default.</summary>
    public bool CompiledEnabled { get; set; } = true;

    public bool NeedsHidden => true;
    public bool HasDistributions => false;

    public void Reset(CausalContext context) { }

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        var hidden = context.RootHidden;
        if (hidden is null) return; // the first step has no verified hidden state yet: a plain step
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        if (CompiledEnabled && _headLogits is not null) RankCompiled(hidden);
        else RankEager(hidden);
        _heads.RecordCall(started);
        _mapped[0] = 0;
        for (int i = 1; i < _parents.Length; i++)
        {
            int parent = _mapped[_parents[i]];
            if (parent == CandidateTree.NoNode) { _mapped[i] = CandidateTree.NoNode; continue; }
            int head = _depths[i] - 1;
            _mapped[i] = tree.AddChild(parent, (int)_ranked[head * _maxRank + _choices[i]], source);
        }
    }

    private void RankEager(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var logits = _heads.Logits(hidden.unsqueeze(0), _lmHead).squeeze(0);        // [heads, vocab]
        var ranked = logits.topk(_maxRank, dim: -1).indexes.to(ScalarType.Int64);    // [heads, maxRank]
        MemoryMarshal.Cast<byte, long>(ranked.cpu().contiguous().bytes).CopyTo(_ranked);
    }

    // Every head in one compiled call into _headLogits, then each head's top ranks on the host.
    private unsafe void RankCompiled(Tensor hidden)
    {
        int count = _heads.Count;
        var weights = stackalloc ScriptArgument[count];
        var biases = stackalloc ScriptArgument[count];
        var heads = stackalloc ScriptArgument[Math.Max(1, _headWeights!.Length)];
        for (int k = 0; k < count; k++)
        {
            weights[k] = ScriptArgument.Of(_blockWeights![k]);
            biases[k] = ScriptArgument.Of(_blockBiases![k]);
        }
        for (int k = 0; k < _headWeights.Length; k++) heads[k] = ScriptArgument.Of(_headWeights[k]);
        var args = stackalloc ScriptArgument[6];
        args[0] = ScriptArgument.Of(hidden);
        args[1] = ScriptArgument.List(weights, count);
        args[2] = ScriptArgument.List(biases, count);
        args[3] = ScriptArgument.List(heads, _headWeights.Length);
        args[4] = ScriptArgument.Of(_sharedHead!);
        args[5] = ScriptArgument.Of(_headLogits!);
        sbyte code = Script.Value.Invoke(HeadsInto, args, 6);
        if (code != NativeScript.ReturnsNone) throw new InvalidOperationException($"heads_into returned type code {code}, expected none");
        GC.KeepAlive(hidden);

        int vocab = (int)_headLogits!.size(1);
        var rows = _rows.Read(_headLogits);
        for (int k = 0; k < count; k++)
            HostTopK.Select(rows.Slice(k * vocab, vocab), _ranked.AsSpan(k * _maxRank, _maxRank), _rankScores);
    }

    // The eager heads' ops (MedusaHeads.Hidden, then the own or the shared LM head in float32), per head.
    private const string Source = """
def heads_into(hidden: Tensor, block_weights: List[Tensor], block_biases: List[Tensor], head_weights: List[Tensor],
               shared_head: Tensor, logits_out: Tensor):
    for k in range(len(block_weights)):
        h = hidden.add(torch.silu(torch.linear(hidden, block_weights[k], block_biases[k])), alpha=1)
        if len(head_weights) > 0:
            logits = torch.linear(h, head_weights[k])
        else:
            logits = torch.linear(h.to(shared_head.dtype), shared_head)
        logits_out.select(0, k).copy_(logits)
""";

    private static readonly Lazy<NativeScript> Script = new(() => new NativeScript(Source));
    private static readonly unsafe byte* HeadsInto = NativeScript.Name("heads_into");

    public void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome) { }

    public void Dispose()
    {
        _headLogits?.Dispose();
        _noSharedHead?.Dispose();
        _rows.Dispose();
    }
}
