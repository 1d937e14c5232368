using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives.Batched;

/// <summary>
/// Batched speculative decoding's shared state (the batch &gt; 1 counterpart of <see cref="CausalSession"/>): several
/// prompts decode together, one target forward per step verifies every row's root + drafted chain, and rows accept
/// different lengths. The loop a generated decoder writes:
/// <c>Start → loop { BeginStep; proposer.Propose; Verify; BatchedGreedyAcceptance.Accept; Commit; proposer.Observe }</c>.
/// The target cache is a <see cref="RaggedKVCache"/>: prompts are left-padded with invalid slots, each step writes
/// every row at the same slots, and a row's rejected drafts (and every slot of a finished row) are marked invalid for
/// that row. Trailing slots that no row keeps are truncated away, so the cache grows by 1 + the longest acceptance.
/// </summary>
public sealed class BatchedCausalSession : IDisposable
{
    private readonly ICausalLM _target;
    private readonly RaggedKVCache _cache;
    private readonly SessionCore _core = new(); // the stop rule and counters every session shares
    private readonly int _maxLength;
    private int _stepStart;

    /// <param name="maxLength">Most tokens a row's context holds, and the cache's slot count.</param>
    public BatchedCausalSession(ICausalLM target, int batch, int maxLength, int draftLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(draftLength);
        _target = target;
        _maxLength = maxLength;
        _cache = new RaggedKVCache(target, batch, maxLength, maxLength);
        Context = new BatchedContext(batch, maxLength);
        Chain = new BatchedChain(batch, draftLength);
        Outcome = new BatchedStepOutcome(batch);
    }

    public int Batch => Context.Batch;
    public BatchedContext Context { get; }
    public BatchedChain Chain { get; }
    public BatchedStepOutcome Outcome { get; }
    public int Steps => _core.Steps;
    public int TargetForwards => _core.Forwards;
    /// <summary>The shared stop rule, counters and result of every row.</summary>
    public SessionCore Core => _core;

    /// <summary>Cache slots in use: the prefix every row's slots are allocated from.</summary>
    public int CacheLength => _cache.Length;

    public bool Done
    {
        get
        {
            for (int b = 0; b < Batch; b++) if (!Context.IsDone(b)) return false;
            return true;
        }
    }

    /// <summary>Left-pads the prompts to a common length and forwards everything but each prompt's last token. Rows stop
    /// at <see cref="Decoding.GenerationOptions.MaxNewTokens"/> and, when <see cref="Decoding.GenerationOptions.StopOnEos"/>
    /// is set, at an end-of-sequence token (the options' ids, else the target's).</summary>
    public void Start(IReadOnlyList<int[]> prompts, Decoding.GenerationOptions options)
    {
        if (prompts.Count != Batch) throw new ArgumentException($"Expected {Batch} prompts, got {prompts.Count}.", nameof(prompts));
        options.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxNewTokens);
        _core.Start(options, _target.Config.EosTokenIds);
        _cache.Reset();
        int longest = 0;
        for (int b = 0; b < Batch; b++)
        {
            Context.Start(b, prompts[b]);
            longest = Math.Max(longest, prompts[b].Length);
        }
        int n = longest - 1;
        if (n == 0) return;
        var valid = _cache.Valid;
        var tokens = _cache.StagedTokens;
        var positions = _cache.StagedPositions;
        for (int b = 0; b < Batch; b++)
        {
            var prompt = prompts[b];
            int pad = longest - prompt.Length;  // row b's text sits right-aligned: slots [pad, n)
            for (int j = 0; j < n; j++)
            {
                bool real = j >= pad;
                valid[b * _maxLength + j] = real;
                tokens[b * n + j] = real ? prompt[j - pad] : 0;
                positions[b * n + j] = real ? j - pad : 0;
            }
        }
        using (_cache.Forward(_target, n)) _core.CountForward();
    }

    /// <summary>Puts each row's root in column 0 of <see cref="Chain"/>.</summary>
    public void BeginStep()
    {
        _core.BeginStep();
        for (int b = 0; b < Batch; b++) Chain[b, 0] = Context.Root(b);
    }

    /// <summary>One target forward over every row's chain. Returns logits <c>[batch, width, vocab]</c> (caller disposes).</summary>
    public ModelOutput Verify()
    {
        int width = Chain.Width;
        _stepStart = _cache.Length;
        if (_stepStart + width > _maxLength)
            throw new InvalidOperationException($"The cache holds {_maxLength} slots; this step needs {_stepStart + width}.");
        var valid = _cache.Valid;
        var tokens = _cache.StagedTokens;
        var positions = _cache.StagedPositions;
        for (int b = 0; b < Batch; b++)
        {
            bool active = !Context.IsDone(b);
            int rootPosition = Context.Length(b) - 1;
            for (int j = 0; j < width; j++)
            {
                valid[b * _maxLength + _stepStart + j] = active;
                tokens[b * width + j] = Chain[b, j];
                positions[b * width + j] = rootPosition + j;
            }
        }
        _core.CountForward();
        return _cache.Forward(_target, width);
    }

    /// <summary>
    /// Keeps each row's root and accepted drafts, invalidates its rejected slots, appends the accepted tokens and the
    /// next token (stopping a row at a stop token or its budget), and drops trailing slots no row keeps.
    /// </summary>
    public void Commit()
    {
        int width = Chain.Width;
        var valid = _cache.Valid;
        int keep = 0; // slots after the step start that some row still needs
        for (int b = 0; b < Batch; b++)
        {
            var rowValid = valid.Slice(b * _maxLength + _stepStart, width);
            if (Context.IsDone(b)) { rowValid.Clear(); continue; }
            int accepted = Outcome.Accepted(b);
            rowValid.Slice(1 + accepted).Clear(); // the root and the accepted drafts stay; the rest was rejected
            keep = Math.Max(keep, 1 + accepted);
            bool go = true;
            for (int j = 1; j <= accepted && go; j++) go = Append(b, Chain[b, j]);
            if (go) Append(b, Outcome.NextToken(b));
        }
        _cache.Cache.Truncate(_stepStart + keep);
        _core.EndStep();
    }

    private bool Append(int row, int token) => Context.Text(row).Commit(token, _core.StopRule);

    public void Dispose() => _cache.Dispose();
}
