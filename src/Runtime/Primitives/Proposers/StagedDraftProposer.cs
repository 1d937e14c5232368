using System.Runtime.InteropServices;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives.Acceptance;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>
/// A proposer whose state can follow its context being cut back: after <see cref="Rewind"/> it must behave as if it had
/// only seen the context's first <c>unchanged</c> tokens and then the rest. A proposer without it is <c>Reset</c> instead.
/// </summary>
public interface IRewindable
{
    /// <summary>The context was cut to its first <paramref name="unchanged"/> tokens and may have grown since.</summary>
    void Rewind(CausalContext context, int unchanged);
}

/// <summary>
/// Staged speculative decoding (Spector and Re 2023, "Accelerating LLM Inference with Staged Speculative Decoding"): the
/// draft model's own chain is itself speculated. Another strategy's step — its proposers and its acceptance rule, the
/// <em>engine</em> — runs on the draft model: the engine proposes, the draft model verifies the engine's tree in one
/// forward and keeps what its acceptance rule accepts, until this step's draft is <see cref="Length"/> tokens long. With
/// greedy engine acceptance the chain is exactly the draft model's greedy chain (what <see cref="DraftModelProposer"/>
/// drafts), bought with fewer draft forwards when the engine guesses well; a lossy engine only changes the draft. Either
/// way the target verifies it, so the strategy's guarantee is its own acceptance rule's.
/// The draft model has a KV cache of its own and a context of its own (committed text + drafted tokens); after the
/// target's step both are cut back to the committed text they still agree with, and the engine's proposers rewind.
/// </summary>
public sealed class StagedDraftProposer : IProposer, IDraftCounter
{
    private readonly ICausalLM _draft;
    private readonly KVCache _cache;
    private readonly TreeVerifier _verifier;
    private readonly CandidateTree _tree;      // the engine's tree on the draft model
    private readonly CandidateTree _catchUp;   // committed tokens the draft cache has not seen, as a chain
    private readonly StepOutcome _outcome;
    private readonly NodeSampler _sampler;     // greedy: engine drafts are the draft model's picks
    private readonly CausalContext _context;   // committed text + this step's drafted tokens
    private readonly IProposer[] _proposers;
    private readonly IAcceptanceRule _accept;
    private readonly int _maxLength, _limit, _capacity;
    private readonly int[] _chainNodes;        // 1, 2, ..., capacity - 1: a whole chain accepted
    private readonly int[] _next = new int[1]; // the draft model's own next token after an engine step
    private int _length, _committed, _forwards;
    // A catch-up longer than the engine's tree (the prompt, on a decode's first proposal): one causal forward, which
    // makes tensors; steps after it catch up through the verifier, which makes none.
    private readonly Tensor _prefillTokensHost, _prefillPositions, _causal; // [1, maxLength] int64, [1, maxLength] int64, [maxLength, maxLength] bool

    /// <param name="draft">The draft model the engine runs on.</param>
    /// <param name="maxLength">The longest sequence (prompt + output) the decoder is built for.</param>
    /// <param name="length">Tokens drafted per step (an adaptive length may lower it).</param>
    /// <param name="proposers">The engine's proposers, built for the draft model.</param>
    /// <param name="accept">The engine's acceptance rule.</param>
    /// <param name="capacity">Candidate tokens one engine verification holds, root included.</param>
    public StagedDraftProposer(ICausalLM draft, int maxLength, int length, IProposer[] proposers, IAcceptanceRule accept, int capacity)
    {
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length), length, "A staged draft needs a length of at least 1.");
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "An engine's tree needs room for its root.");
        _draft = draft;
        _maxLength = maxLength;
        _limit = Math.Min(maxLength, draft.Config.MaxPositionEmbeddings);
        _length = length;
        MaxDraftLength = length;
        _proposers = proposers;
        _accept = accept;
        _capacity = capacity;
        _cache = draft.CreateCache(1, maxLength);
        _verifier = new TreeVerifier(draft, _cache, capacity);
        _tree = new CandidateTree(capacity);
        _catchUp = new CandidateTree(capacity);
        _outcome = new StepOutcome(capacity);
        _sampler = new NodeSampler(capacity);
        _context = new CausalContext(maxLength);
        _chainNodes = new int[capacity];
        for (int i = 0; i < capacity; i++) _chainNodes[i] = i + 1;
        using var scope = NewDisposeScope();
        _prefillTokensHost = zeros(1, maxLength, ScalarType.Int64).DetachFromDisposeScope();
        _prefillPositions = arange(0, maxLength, ScalarType.Int64, draft.Device).view(1, maxLength).DetachFromDisposeScope();
        _causal = ones(maxLength, maxLength, ScalarType.Bool, draft.Device).tril_().DetachFromDisposeScope();
    }

    public bool NeedsHidden => false;
    public bool HasDistributions => false;

    /// <summary>The length the proposer was built for.</summary>
    public int MaxDraftLength { get; }

    /// <summary>Tokens drafted per step, at most the length the proposer was built for (an adaptive length sets it).</summary>
    public int Length
    {
        get => _length;
        set => _length = Math.Clamp(value, 1, MaxDraftLength);
    }

    /// <summary>Draft-model forwards (engine verifications and catch-ups) plus the engine's own draft forwards.</summary>
    public int DraftForwards
    {
        get
        {
            int total = _forwards;
            foreach (var p in _proposers)
                if (p is IDraftCounter counter) total += counter.DraftForwards;
            return total;
        }
    }

    public void Reset(CausalContext context)
    {
        _context.Start(context.Tokens);
        _committed = context.Length;
        _cache.Truncate(0);
        _forwards = 0;
        foreach (var p in _proposers) p.Reset(_context);
    }

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        // The draft context becomes the committed text but its last token (the target's new root); when the draft cache
        // then lacks only the token before that root, that token is forwarded with the first engine step instead of on
        // its own: the step's tree is rooted at it, with the committed root as its first child (as a draft model forwards
        // the missed token together with the root).
        bool held = Follow(context);
        int root = context.Root;
        bool merged = held && _cache.Length == _context.Length - 1;
        if (held && !merged) _context.Append(root);
        if (!tree.CanExtend(0))
        {
            if (merged) _context.Append(root);
            return;
        }
        int parent = 0, drafted = 0;
        while (drafted < _length && _context.Length + _capacity <= _limit)
        {
            // One engine step on the draft model: propose, verify on the draft model, accept, commit to its cache.
            _tree.Reset(_context.Root);
            int forced = merged ? _tree.AddChild(0, root) : CandidateTree.NoNode;
            for (int i = 0; i < _proposers.Length; i++) _proposers[i].Propose(_context, _tree, i);
            int prefix = _cache.Length;
            using (var verified = _verifier.Verify(_tree, returnHidden: false))
            {
                _forwards++;
                _accept.Accept(_tree, verified.Logits, null, _sampler, _outcome);
            }
            int skip = 0;
            if (merged)
            {
                merged = false;
                if (_outcome.AcceptedCount == 0 || _outcome.AcceptedNodes[0] != forced)
                {
                    // The draft model would not have picked the committed root: keep the missed token, drop the rest,
                    // and draft from the root in the next engine step.
                    _verifier.CommitPath(prefix, ReadOnlySpan<int>.Empty);
                    _context.Append(root);
                    foreach (var p in _proposers) p.Observe(_context, _tree, _outcome);
                    continue;
                }
                skip = 1; // the committed root itself, accepted by the draft model: not a draft token
            }
            _verifier.CommitPath(prefix, _outcome.AcceptedNodes);
            _context.SetLastPicks(_sampler.LastPicks);

            // What the draft model accepted, then its own next token, extend both its context and the target's draft.
            bool full = Append(_outcome.AcceptedTokens, skip, tree, source, ref parent, ref drafted);
            _next[0] = _outcome.NextToken;
            full |= Append(_next, 0, tree, source, ref parent, ref drafted);
            foreach (var p in _proposers) p.Observe(_context, _tree, _outcome);
            if (full) break;
        }
        if (merged) _context.Append(root); // no engine step ran: the root still belongs to the draft context
    }

    // Appends engine tokens to the draft context and, while the draft has room, to the target's tree as a chain.
    // Returns true when the target's tree can take no more (full, or the constraint ends the path).
    private bool Append(ReadOnlySpan<int> tokens, int skip, CandidateTree tree, int source, ref int parent, ref int drafted)
    {
        bool full = false;
        for (int i = 0; i < tokens.Length; i++)
        {
            int token = tokens[i];
            _context.Append(token);
            if (i < skip || full || drafted >= _length) continue;
            int node = tree.AddChild(parent, token, source);
            if (node == CandidateTree.NoNode) { full = true; continue; }
            parent = node;
            drafted++;
            if (!tree.CanExtend(parent)) full = true;
        }
        return full;
    }

    /// <summary>The target's step committed; the next proposal re-syncs from the committed text.</summary>
    public void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome) { }

    /// <summary>
    /// Brings the draft context and cache to the committed text but its last token: keeps the longest prefix they share
    /// (the accepted drafts, and more when the target's own next token is the next drafted one), cuts the rest, appends
    /// what the target committed beyond it, rewinds the engine's proposers, and forwards what the draft cache lacks but
    /// the context's own last token.
    /// </summary>
    /// <returns>Whether the root was held back (always, but for a one-token prompt).</returns>
    private bool Follow(CausalContext context)
    {
        var committed = context.Tokens;
        var mine = _context.Tokens;
        bool held = committed.Length >= 2;
        int target = held ? committed.Length - 1 : committed.Length;
        int unchanged = Math.Min(_committed, mine.Length);
        int shared = Math.Min(target, mine.Length);
        while (unchanged < shared && committed[unchanged] == mine[unchanged]) unchanged++;
        unchanged = Math.Min(unchanged, target);
        bool cut = mine.Length > unchanged;
        // Cut: the committed text replaces the draft context (an int copy; the cache keeps what still matches).
        if (cut) _context.Start(committed.Slice(0, target));
        else for (int i = _context.Length; i < target; i++) _context.Append(committed[i]);
        if (_cache.Length > unchanged) _cache.Truncate(unchanged);
        if (cut)
        {
            foreach (var p in _proposers)
            {
                if (p is IRewindable rewindable) rewindable.Rewind(_context, unchanged);
                else p.Reset(_context);
            }
        }
        _committed = committed.Length;
        CatchUp();
        return held;
    }

    // Forwards context tokens [cache, length - 1) so that the cache holds everything but the root.
    private void CatchUp()
    {
        int have = _cache.Length, n = _context.Length - 1 - have;
        if (n <= 0) return;
        var tokens = _context.Tokens;
        _forwards++;
        if (n <= _capacity)
        {
            // A chain "tree" of the missing tokens through the verifier: positions have + depth, causal mask, no new tensor.
            _catchUp.Reset(tokens[have]);
            _catchUp.AddChain(0, tokens.Slice(have + 1, n - 1));
            using (var _ = _verifier.Verify(_catchUp, returnHidden: false)) { }
            _verifier.CommitPath(have, _chainNodes.AsSpan(0, n - 1));
            return;
        }
        using var scope = NewDisposeScope();
        var staged = MemoryMarshal.Cast<byte, long>(_prefillTokensHost.bytes);
        for (int i = 0; i < n; i++) staged[have + i] = tokens[have + i];
        var input = _prefillTokensHost.narrow(1, have, n).to(_draft.Device);
        var mask = _causal.narrow(0, have, n).narrow(1, 0, have + n).unsqueeze(0).unsqueeze(0); // [1, 1, n, have + n] offset-causal
        using var output = _draft.Forward(input, _prefillPositions.narrow(1, have, n), mask, _cache, returnHidden: false);
    }

    public void Dispose()
    {
        foreach (var p in _proposers) p.Dispose();
        _accept.Dispose();
        _verifier.Dispose();
        _cache.Dispose();
        _sampler.Dispose();
        _prefillTokensHost.Dispose(); _prefillPositions.Dispose(); _causal.Dispose();
    }
}
