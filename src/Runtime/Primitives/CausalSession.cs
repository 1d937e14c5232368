using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives;

/// <summary>
/// The state every causal strategy's loop shares: the committed context, the target's preallocated KV cache, the
/// verifier, this step's candidate tree and outcome, the sampler and the counters. A strategy's step is
/// <c>BeginStep → proposers → Verify → an acceptance rule → Commit → proposers observe</c>; the generated decoder
/// writes that sequence out with concrete types, the plan interpreter walks it from the plan. Everything is allocated
/// here once, for the declared maximum length and tree width.
/// </summary>
public sealed class CausalSession : IDisposable
{
    private readonly ICausalLM _target;
    private readonly KVCache _cache;
    private readonly TreeVerifier _verifier;
    private readonly Tensor _prefillPositions; // [1, maxLength] int64
    private readonly StagedTensor _prefillTokens; // [1, maxLength] int64, written on the host
    private readonly HostRows _maskedRows = new(); // the verified logits a constraint masks, as host rows
    private readonly Tensor _causal;            // [maxLength, maxLength] bool lower-triangular
    private readonly SessionCore _core = new(); // the stop rule, counters and clocks every session shares
    private bool _constrainProposals;

    public CausalSession(ICausalLM target, int maxLength, int treeCapacity)
    {
        if (treeCapacity < 1) throw new ArgumentOutOfRangeException(nameof(treeCapacity));
        _target = target;
        MaxLength = maxLength;
        _cache = target.CreateCache(1, maxLength);
        _verifier = new TreeVerifier(target, _cache, treeCapacity);
        Tree = new CandidateTree(treeCapacity);
        Outcome = new StepOutcome(treeCapacity);
        Sampler = new NodeSampler(treeCapacity, target.Device);
        Context = new CausalContext(maxLength);
        Constraint = new ConstraintState(maxLength);
        // view() and tril_() return new tensor handles: the scope disposes the intermediates (else they leak to the finaliser).
        using var scope = NewDisposeScope();
        _prefillPositions = arange(0, maxLength, ScalarType.Int64, target.Device).view(1, maxLength).DetachFromDisposeScope();
        _prefillTokens = new StagedTensor([1, maxLength], ScalarType.Int64, target.Device);
        _causal = ones(maxLength, maxLength, ScalarType.Bool, target.Device).tril_().DetachFromDisposeScope();
    }

    public int MaxLength { get; }
    public ICausalLM Target => _target;
    public CausalContext Context { get; }
    public CandidateTree Tree { get; }
    public StepOutcome Outcome { get; }
    public NodeSampler Sampler { get; }
    /// <summary>The request's constraint and where the committed text stands in it (inactive when unconstrained).</summary>
    public ConstraintState Constraint { get; }

    public int Steps => _core.Steps;
    public int TargetForwards => _core.Forwards;
    public int AcceptedDraftTokens { get; private set; }
    public int ProposedDraftTokens { get; private set; }
    public TimeSpan PrefillTime => _core.PrefillTime;
    public TimeSpan DecodeTime => _core.DecodeTime;
    /// <summary>Why the decode ended; null while it runs.</summary>
    public StopReason? StopReason => Context.Text.StopReason;
    public bool Done => Context.Text.Done;

    /// <summary>Tokens committed by the last step (accepted candidates, then the target's own next token).</summary>
    public int LastCommitted { get; private set; }

    /// <summary>Starts a decode: resets the cache and forwards every prompt token but the last (the first root).</summary>
    public void Start(ReadOnlySpan<int> prompt, GenerationOptions options)
    {
        options.Validate();
        Sampler.Configure(SamplingSettings.From(options));
        // Positions must also stay inside the model's context (its rotary/position tables end there), and the cache needs
        // room for the prompt, the generated tokens and one step's worth of candidates.
        int context = Math.Min(MaxLength, _target.Config.MaxPositionEmbeddings);
        Context.Start(prompt, room: context - prompt.Length - Tree.Capacity);
        Constraint.Start(options.Constraint);
        _constrainProposals = options.ConstrainProposals;
        _core.Start(options, _target.Config.EosTokenIds);
        if (prompt.Length >= context)
            throw new ArgumentException($"The prompt has {prompt.Length} tokens; the model's context holds {_target.Config.MaxPositionEmbeddings} and this decoder's cache {MaxLength}.", nameof(prompt));
        _cache.Truncate(0);
        AcceptedDraftTokens = ProposedDraftTokens = LastCommitted = 0;
        if (Context.Text.CheckBudget(_core.StopRule) && Constraint.IsStuck) Context.Text.Stop(Decoding.StopReason.Unsatisfiable);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        int n = prompt.Length - 1;
        if (n > 0)
        {
            using var scope = NewDisposeScope();
            var staged = _prefillTokens.Span<long>();
            for (int i = 0; i < n; i++) staged[i] = prompt[i];
            _prefillTokens.Upload(n);
            var tokens = _prefillTokens.Device.narrow(1, 0, n);
            var mask = _causal.narrow(0, 0, n).narrow(1, 0, n).unsqueeze(0).unsqueeze(0); // [1, 1, n, n]
            using var output = _target.Forward(tokens, _prefillPositions.narrow(1, 0, n), mask, _cache);
            _core.CountForward();
        }
        _core.EndPrefill(started);
    }

    public void BeginStep()
    {
        _core.BeginStep();
        Sampler.ClearPicks();
        if (Constraint.Matcher is { } matcher) Tree.Reset(Context.Root, matcher, Constraint.Current, _constrainProposals);
        else Tree.Reset(Context.Root);
    }

    /// <summary>
    /// What the last step says about per-token acceptance, as a chain: the candidates accepted along the accepted path,
    /// plus the one rejected after them when the path stopped at a rejection (its last node had children and none was
    /// accepted); 0 when nothing was proposed. A chain's value is its length when every candidate was accepted and
    /// accepted + 1 otherwise, so chain strategies' length states see what they always saw. A tree's other branches are
    /// alternatives to the accepted path, not continuations of it: counting every node as proposed (as this did) made
    /// a tree whose best path reached a leaf look rejected on every step, and a length state shrink its budget.
    /// </summary>
    public int ProposedLastStep =>
        Tree.FirstChild(Outcome.LastNode) == CandidateTree.NoNode ? Outcome.AcceptedCount : Outcome.AcceptedCount + 1;

    /// <summary>
    /// One target forward over the tree. Returns logits <c>[nodes, vocab]</c> and hidden <c>[nodes, hidden]</c>, borrowed
    /// from the verifier's preallocated outputs: valid until the next verification (disposing them does nothing).
    /// </summary>
    public ModelOutput Verify(bool returnHidden)
    {
        _core.CountForward();
        ProposedDraftTokens += Tree.Count - 1;
        var output = _verifier.Verify(Tree, returnHidden);
        if (Tree.Matcher is not null) MaskLogits(output.Logits);
        return output;
    }

    /// <summary>
    /// Constrained decoding's one hook into verification: every node's logits row is masked in place by the constraint
    /// state after that node, so whatever acceptance rule follows — greedy picks, rejection sampling's p, typical
    /// acceptance — sees the target restricted to what the constraint allows. Greedy acceptance then commits exactly
    /// the constrained greedy text, and the target's own next token is always allowed. A row whose node the constraint
    /// forbids (only when proposals are unconstrained) or that ends it is left as it is: acceptance never uses it. Rows
    /// are host rows (<see cref="HostRows"/>: in place on the CPU, no tensor op, no allocation; elsewhere copied and
    /// written back once).
    /// </summary>
    private void MaskLogits(Tensor logits /* [n, vocab] */)
    {
        var matcher = Tree.Matcher!;
        int n = Tree.Count, vocab = (int)logits.size(-1);
        var rows = _maskedRows.Read(logits);
        for (int node = 0; node < n; node++)
        {
            // A dead node (unconstrained proposals only) is never reached; after a finished node (an end token) the decode
            // stops before the pick there is used. Both rows stay as they are, so a sampler still has weight to draw from.
            int state = Tree.ConstraintState(node);
            if (state < 0) continue;
            matcher.MaskLogits(state, rows.Slice(node * vocab, vocab));
        }
        _maskedRows.WriteBack(logits);
    }

    /// <summary>
    /// Keeps the accepted path in the cache and appends its tokens and the next token to the context, stopping at a
    /// stop token or the token budget (the one <see cref="StopRule"/>; tokens after the stop are dropped, as plain decoding would never produce them).
    /// </summary>
    public void Commit(ModelOutput verified)
    {
        var outcome = Outcome;
        int prefix = _cache.Length - Tree.Count;
        _verifier.CommitPath(prefix, outcome.AcceptedNodes);
        if (verified.Hidden is { } hidden) Context.SetRootHiddenRow(hidden, outcome.LastNode);
        Context.SetLastPicks(Sampler.LastPicks);

        int before = Context.Length;
        foreach (int token in outcome.AcceptedTokens)
        {
            if (!Append(token)) break;
        }
        if (!Done) Append(outcome.NextToken);
        LastCommitted = Context.Length - before;
        AcceptedDraftTokens += Math.Min(outcome.AcceptedCount, LastCommitted);
        _core.EndStep();
    }

    // Commits one token; returns false (the stop reason set) when generation must end after it. The constraint ends a
    // decode between the stop token and the budget: its end token in an accepting state, or a state admitting nothing.
    private bool Append(int token)
    {
        var text = Context.Text;
        if (!Constraint.IsActive || _core.StopRule.IsStopToken(token)) return text.Commit(token, _core.StopRule);
        Constraint.Advance(token);
        if (Constraint.IsFinished) { text.Append(token); text.Stop(Decoding.StopReason.EndOfSequence); return false; }
        if (Constraint.IsStuck || Constraint.Current == TokenMatcher.Dead) { text.Append(token); text.Stop(Decoding.StopReason.Unsatisfiable); return false; }
        return text.Commit(token, _core.StopRule);
    }

    /// <summary>Ends the decode early (a stop string matched, or the caller cancelled).</summary>
    public void Stop(StopReason reason) => Context.Text.Stop(reason);

    /// <summary>
    /// The generated tokens (an end-of-sequence token excluded) and the counters, after the loop ended.
    /// <paramref name="text"/> is filled in by the text layer.
    /// </summary>
    public DecodeResult Result(int draftForwards = 0, string text = "") => _core.Result(Context.Text, draftForwards, text);

    public void Dispose()
    {
        _verifier.Dispose();
        _cache.Dispose();
        Sampler.Dispose();
        Context.ReleaseHidden();
        _prefillPositions.Dispose(); _prefillTokens.Dispose(); _causal.Dispose(); _maskedRows.Dispose();
    }
}
