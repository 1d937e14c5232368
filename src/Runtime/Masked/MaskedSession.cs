using System.Diagnostics;
using System.Runtime.InteropServices;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Masked.Constrained;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Masked;

/// <summary>Which keys/values a masked canvas reuses between steps (Fast-dLLM §3.1, block-wise approximate KV cache).</summary>
public enum MaskedCacheMode
{
    /// <summary>Every step forwards the whole canvas (LLaDA's plain sampler). Exact.</summary>
    None,
    /// <summary>The prefix (everything before the block) is cached at block start; each step forwards block + suffix.</summary>
    Prefix,
    /// <summary>Prefix and suffix are cached at block start; each step forwards only the block (Fast-dLLM DualCache).</summary>
    Dual,
}

/// <summary>
/// The state every masked-diffusion strategy's loop shares (LLaDA, Nie et al. 2025, semi-autoregressive block
/// sampling; Fast-dLLM, Wu et al. 2025, caches and parallel commits): the canvas, the cache, this step's predictions,
/// the selection a commit rule writes, and the counters.
/// </summary>
/// <remarks>
/// <para><b>Canvas.</b> <c>prompt ++ [MASK] × generationLength</c> in a preallocated <c>[1, maxLength]</c> int64 buffer;
/// a host copy is authoritative and each commit writes it to the device buffer in place (one copy; on the CPU the two are
/// the same tensor). Generation proceeds in blocks, left to right: block <c>k</c> covers canvas positions
/// <c>[BlockStart, BlockEnd)</c> (the default size, or the size <see cref="ResizeBlock"/> chose at block start; the last
/// block may be shorter), and nothing outside the current block is committed before it completes (except the EOS fill
/// and end-of-text, below).</para>
/// <para><b>Step.</b> The generated loop writes, for a rule <c>rule</c> and optional primitives:
/// <code>
/// session.Start(prompt, generationLength, sampling);
/// while (!session.Done)
/// {
///     session.BeginStep();                                   // moves to the next block when this one is full
///     if (!session.HasPredictions) session.Predict();        // one forward; confidences for the block (and beyond)
///     if (session.AtBlockStart) adaptiveBlock?.Apply(session); // AdaBlock: choose this block's size
///     if (eot is not null &amp;&amp; eot.ShouldStop(session)) { session.CommitEndOfText(); continue; }
///     session.Selection.Clear();
///     rule.Select(session.Block, session.Selection);         // or credit / draft-verify rules: rule.Select(session)
///     session.Commit();                                      // writes the tokens, EOS fill, counters
///     credits?.Update(session);                              // state updates read this step's raw predictions
/// }
/// </code></para>
/// <para><b>Predictions.</b> Logits are turned into float64 probabilities; per position the confidence is the
/// probability of the token (argmax when greedy; a seeded sample from the temperature/top-k/top-p distribution otherwise,
/// as LLaDA's Gumbel sampling) and the margin is top-1 minus top-2 probability. They reach the host in one copy and are
/// stored by absolute canvas position for the predicted span (<see cref="Predicted"/>): from the block start to the end
/// of the canvas, except the dual cache's cached steps, which predict the block only. The raw block logits stay on the
/// device in <see cref="BlockLogits"/> for state primitives (credits).</para>
/// <para><b>Caches.</b> At each block start (and every <c>refreshEvery</c> steps, when set) the whole canvas is forwarded
/// once with the cache from slot 0 — that forward's predictions serve the block's first step — so the cache holds every
/// position's keys/values with RoPE already applied. <see cref="MaskedCacheMode.Prefix"/> then truncates it to the
/// prefix <c>[0, BlockStart)</c> and each step forwards <c>[BlockStart, end)</c> at its true positions, attending to the
/// cached prefix and itself, and truncates back. <see cref="MaskedCacheMode.Dual"/> compacts the cache to the layout
/// <c>[prefix | suffix]</c>: slots <c>[0, s)</c> hold positions <c>[0, s)</c> and slots <c>[s, s + (end − e))</c> hold the
/// suffix positions <c>[e, end)</c> (moved with <see cref="KVCache.Compact(int, ReadOnlySpan{long})"/>); each step
/// forwards only the block at its true positions <c>[s, e)</c>, whose keys land after the suffix. Slot order does not
/// matter under an all-true mask because each cached key already carries its own rotary position. Everything is one
/// preallocated cache; no step allocates device memory beyond the forward's own temporaries. The caches are
/// approximate (stale keys for tokens committed since the refresh), as in Fast-dLLM.</para>
/// <para><b>Shifted denoisers.</b> Dream predicts position p from logits row p − 1 (<see cref="Shift"/>): "the block's rows"
/// are then <c>[BlockStart − 1, BlockEnd − 1)</c>, and the prefix the caches hold ends at <c>BlockStart − 1</c> (the prompt is
/// never empty, so that row exists).</para>
/// <para><b>EOS.</b> Once an EOS token is committed at position <c>q</c>, every position after <c>q</c> becomes EOS (the
/// generation ends there; <see cref="Generated"/> stops at the first EOS, inclusive). Masked positions before <c>q</c>
/// are still decoded. <see cref="CommitEndOfText"/> (end-of-text prediction, Learn2PD's EoTP, via <see cref="EotStop"/>)
/// fills every remaining masked position with EOS at once.</para>
/// <para><b>Constraints.</b> Under a regular constraint (<see cref="Start(ReadOnlySpan{int}, int, SamplingSettings, TokenMatcher?)"/>)
/// every installed prediction of the block is replaced by DINGO's assignment (<see cref="DingoProgram"/>): the most
/// probable tokens for the block's masked positions — or, when sampling, a draw — whose text, with the committed tokens,
/// the constraint still accepts and can finish in the canvas left. Confidence stays the model's probability of the
/// token chosen; the margin is that probability minus the best other token's (negative where the constraint overrules
/// the model's favourite). Whatever subset a commit rule takes, a completion stays accepted. When no assignment exists
/// the decode ends with <see cref="Decoding.StopReason.Unsatisfiable"/> and nothing more is committed. Sampling under a
/// constraint uses the temperature only (top-k / top-p are not applied).</para>
/// <para><b>Counters.</b> <see cref="Steps"/> (loop iterations), <see cref="Forwards"/> (model calls; a batched verify
/// counts once), <see cref="CanvasForwards"/> (rows forwarded: the honest cost), tokens per step
/// (<see cref="CommitHistory"/>), prefill (first forward) and decode time.</para>
/// </remarks>
public sealed partial class MaskedSession : IDisposable
{
    private readonly ICausalLM _model;
    private readonly KVCache? _cache;
    private readonly StagedTensor _canvas; // [1, maxLength] int64: written on the host (authoritative), read by the model on its device
    private readonly Tensor _positions;   // [1, maxLength] int64 arange
    private readonly Tensor _true;        // [1, 1, 1, 1] bool, expanded to all-true masks (no memory)
    private readonly Tensor _statsHost;   // [1, 3, maxLength] float64, CPU: confidence, token, margin
    private readonly Tensor _blockLogits; // [maxBlockSize, vocab] float32, device
    private readonly Tensor _maskIndex;   // [1] int64, device: the mask token is never predicted
    private readonly long[] _compactOffsets;
    private readonly double[] _confidence, _margin; // by canvas position
    private readonly long[] _tokens;                // by canvas position (predictions)
    private readonly bool[] _masked;                // by canvas position
    private readonly int[] _history;
    private readonly TokenSequence _text;          // the generated text read off the canvas, and why the decode ended
    private readonly SessionCore _core = new();    // the stop rule, steps, canvas forwards and clocks every session shares
    private readonly HashSet<long> _eos;
    private readonly long _eosToken;
    private int _spanStart, _spanEnd, _blockLogitsRows, _blockLogitsStart;
    private TokenMatcher? _constraint;
    private DingoProgram? _dingo;
    private long[] _committedScratch = [], _assignment = [];
    private readonly HostRows _logitsHost = new(); // the block logits as host rows (DINGO reads them)
    private bool _valid, _installed, _needsRefresh, _arranged, _first;
    private int _stepsSinceRefresh, _maskedRemaining;

    /// <param name="model">A masked-diffusion LM (bidirectional; <see cref="ModelConfig.MaskTokenId"/> set).</param>
    /// <param name="maxLength">Prompt + generation length, at most.</param>
    /// <param name="blockSize">The default block size B.</param>
    /// <param name="cache">The cache mode.</param>
    /// <param name="maxBlockSize">The largest block <see cref="ResizeBlock"/> may choose (AdaBlock's max); default B.</param>
    /// <param name="refreshEvery">Refresh the cache every this many steps within a block too (0: at block start only).</param>
    public MaskedSession(ICausalLM model, int maxLength, int blockSize, MaskedCacheMode cache = MaskedCacheMode.None,
                         int maxBlockSize = 0, int refreshEvery = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        ArgumentOutOfRangeException.ThrowIfNegative(refreshEvery);
        MaskTokenId = model.Config.MaskTokenId
            ?? throw new ArgumentException("A masked session needs a model whose config sets mask_token_id.", nameof(model));
        if (model.Config.EosTokenIds.Count == 0)
            throw new ArgumentException("A masked session needs an eos_token_id in the model config.", nameof(model));
        _model = model;
        Shift = model.Config.ShiftedLogits ? 1 : 0;
        MaxLength = maxLength;
        DefaultBlockSize = blockSize;
        MaxBlockSize = Math.Max(blockSize, maxBlockSize);
        CacheMode = cache;
        RefreshEvery = refreshEvery;
        var device = model.Device;
        int vocab = model.Config.VocabSize;
        using (no_grad())
        {
            _cache = cache == MaskedCacheMode.None ? null : model.CreateCache(1, maxLength);
            _canvas = new StagedTensor([1, maxLength], ScalarType.Int64, device);
            _positions = arange(0, maxLength, ScalarType.Int64, device).view(1, maxLength).DetachFromDisposeScope();
            _true = ones(1, 1, 1, 1, ScalarType.Bool, device).DetachFromDisposeScope();
            _statsHost = zeros(1, 3, maxLength, ScalarType.Float64).DetachFromDisposeScope();
            _blockLogits = zeros(MaxBlockSize, vocab, ScalarType.Float32, device).DetachFromDisposeScope();
            _maskIndex = tensor(new[] { MaskTokenId }, ScalarType.Int64, device).DetachFromDisposeScope();
        }
        _compactOffsets = new long[maxLength];
        _confidence = new double[maxLength];
        _margin = new double[maxLength];
        _tokens = new long[maxLength];
        _masked = new bool[maxLength];
        _text = new TokenSequence(maxLength);
        _history = new int[maxLength + 1];
        _eos = new HashSet<long>(model.Config.EosTokenIds.Select(id => (long)id));
        _eosToken = model.Config.EosTokenIds[0];
        Selection = new MaskedSelection(MaxBlockSize);
        Sampler = new NodeSampler(1, device);
        DenoiserBlock = model.Config.DenoiserBlock;
        if (DenoiserBlock is int denoiserBlock) _blockCausalMask = BlockCausalMask(denoiserBlock, cache);
    }

    public ICausalLM Model => _model;
    public int MaxLength { get; }
    public int DefaultBlockSize { get; }
    public int MaxBlockSize { get; }
    public MaskedCacheMode CacheMode { get; }
    public int RefreshEvery { get; }
    public long MaskTokenId { get; }
    /// <summary>
    /// 1 when the model's logits at position i predict the token at i + 1 (<see cref="ModelConfig.ShiftedLogits"/>, Dream),
    /// else 0 (LLaDA): position p's prediction is logits row <c>p − Shift</c>. A shifted step forwards one row more — the
    /// position before the block, which the caches then keep out of their prefix — so every cache mode reads the same
    /// rows a whole-canvas forward would.
    /// </summary>
    public int Shift { get; }
    /// <summary>The sampling settings and seeded generator of this decode (greedy by default).</summary>
    public NodeSampler Sampler { get; }
    /// <summary>The request's stop/budget rule (<see cref="MaskedDecoding.GenerationLength"/> starts it): a canvas that
    /// fills without an end-of-sequence token ends as that rule says (the budget, or the room the canvas had).</summary>
    public StopRule StopRule => _core.StopRule;

    /// <summary>Generated tokens the canvas leaves room for after a prompt: the decoder's buffers and the model's context.</summary>
    public int Room(int promptLength) => Math.Min(MaxLength, _model.Config.MaxPositionEmbeddings) - promptLength;
    /// <summary>The positions this step commits; a commit rule fills it.</summary>
    public MaskedSelection Selection { get; }

    public int PromptLength { get; private set; }
    /// <summary>Prompt + generation length: the canvas is <c>[0, End)</c>.</summary>
    public int End { get; private set; }
    /// <summary>Decodes started on this session (state primitives reset when it changes).</summary>
    public int DecodeCount { get; private set; }
    public int BlockIndex { get; private set; }
    public int BlockStart { get; private set; }
    public int BlockEnd { get; private set; }
    public int BlockLength => BlockEnd - BlockStart;
    /// <summary>Steps taken in the current block; 0 means the block's first step (its size may still change).</summary>
    public int StepsInBlock { get; private set; }
    public bool AtBlockStart => StepsInBlock == 0;

    public int Steps => _core.Steps;
    public int Forwards { get; private set; }
    public int CanvasForwards => _core.Forwards;
    public int TokensCommitted { get; private set; }
    public int LastCommitted { get; private set; }
    /// <summary>Tokens committed by each step so far.</summary>
    public ReadOnlySpan<int> CommitHistory => _history.AsSpan(0, Steps);
    public TimeSpan PrefillTime => _core.PrefillTime;
    public TimeSpan DecodeTime => _core.DecodeTime;
    /// <summary>Why the decode ended; null while it runs.</summary>
    public StopReason? StopReason => _text.StopReason;
    public bool Done => _text.Done;
    /// <summary>The shared stop rule, counters, clocks and result.</summary>
    public SessionCore Core => _core;
    /// <summary>The generated text as a sequence (<see cref="Generated"/> refreshes it from the canvas) and its stop reason.</summary>
    public TokenSequence Text => _text;

    /// <summary>The canvas tokens <c>[0, End)</c>, mask tokens included.</summary>
    public ReadOnlySpan<long> Canvas => _canvas.Span<long>().Slice(0, End);
    public bool IsMasked(int position) => _masked[position];
    public int MaskedRemaining => _maskedRemaining;
    public bool IsEos(long token) => _eos.Contains(token);
    public long EosToken => _eosToken;

    /// <summary>The generated text: the canvas after the prompt up to and including the first EOS.</summary>
    public ReadOnlySpan<int> Generated
    {
        get
        {
            var canvas = Canvas;
            _text.Truncate(PromptLength);
            for (int p = PromptLength; p < End; p++)
            {
                long t = canvas[p];
                if (t == MaskTokenId) break;
                _text.Append((int)t);
                if (_eos.Contains(t)) break;
            }
            return _text.Generated;
        }
    }

    /// <summary>True when the predictions are for the current canvas and cover the current block.</summary>
    public bool HasPredictions => _valid && _spanStart <= BlockStart && _spanEnd >= BlockEnd
        && (_constraint is null || (_blockLogitsStart == BlockStart && _blockLogitsRows >= BlockLength)); // DINGO reads the block's logits

    /// <summary>Canvas positions <c>[Start, End)</c> the current predictions cover.</summary>
    public (int Start, int End) Predicted => (_spanStart, _spanEnd);

    /// <summary>Predictions by canvas position over <see cref="Predicted"/> (for end-of-text and adaptive blocks).</summary>
    public MaskedBlock PredictionsAt(int start, int length) =>
        new(start, _confidence.AsSpan(start, length), _tokens.AsSpan(start, length), _margin.AsSpan(start, length),
            _masked.AsSpan(start, length));

    /// <summary>The current block's predictions, indexed by block offset.</summary>
    public MaskedBlock Block => PredictionsAt(BlockStart, BlockLength);

    /// <summary>The raw logits of the current block, <c>[BlockLength, vocab]</c> float32, from the last forward: a view the caller disposes (or reads inside a dispose scope).</summary>
    public Tensor BlockLogits => _blockLogits.narrow(0, 0, Math.Min(_blockLogitsRows, BlockLength));

    /// <summary>The regular constraint this decode follows (DINGO), or null.</summary>
    public TokenMatcher? Constraint => _constraint;

    /// <summary>Starts a decode: the canvas is <paramref name="prompt"/> followed by <paramref name="generationLength"/> masks.</summary>
    public void Start(ReadOnlySpan<int> prompt, int generationLength, SamplingSettings sampling) => Start(prompt, generationLength, sampling, null);

    /// <summary>Starts a decode whose generated text must match <paramref name="constraint"/> (null: unconstrained).</summary>
    public void Start(ReadOnlySpan<int> prompt, int generationLength, SamplingSettings sampling, TokenMatcher? constraint)
    {
        if (prompt.Length == 0) throw new ArgumentException("The prompt must not be empty.", nameof(prompt));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(generationLength);
        if (prompt.Length + generationLength > MaxLength)
            throw new ArgumentOutOfRangeException(nameof(generationLength),
                $"prompt ({prompt.Length}) + generation ({generationLength}) exceeds the session's MaxLength {MaxLength}.");
        Sampler.Configure(sampling);
        DecodeCount++;
        PromptLength = prompt.Length;
        End = prompt.Length + generationLength;
        var canvas = _canvas.Span<long>();
        for (int i = 0; i < prompt.Length; i++) { canvas[i] = prompt[i]; _masked[i] = false; }
        for (int i = prompt.Length; i < End; i++) { canvas[i] = MaskTokenId; _masked[i] = true; }
        SyncCanvas();
        _maskedRemaining = generationLength;
        BlockIndex = 0;
        BlockStart = PromptLength;
        BlockEnd = NextBlockEnd(BlockStart);
        StepsInBlock = 0;
        Forwards = TokensCommitted = LastCommitted = 0;
        _core.Restart();
        _text.Start(prompt, Room(prompt.Length));
        _valid = _installed = _arranged = false;
        _needsRefresh = true;
        _first = true;
        _stepsSinceRefresh = 0;
        _spanStart = _spanEnd = 0;
        _blockLogitsRows = 0;
        _blockLogitsStart = -1;
        _cache?.Reset();
        if (constraint is { IsRegular: false })
            throw new NotSupportedException($"{constraint.Description} is recursive: a masked canvas takes regular constraints only (regex, JSON Schema, non-recursive GBNF), since DINGO's block program is exact over a DFA.");
        _constraint = constraint;
        if (constraint is not null)
        {
            _dingo ??= new DingoProgram(MaxBlockSize);
            _dingo.Start(constraint, Sampler);
            if (_committedScratch.Length < MaxBlockSize) { _committedScratch = new long[MaxBlockSize]; _assignment = new long[MaxBlockSize]; }
        }
    }

    /// <summary>Starts a step; when the current block has no masked position left, moves to the next block.</summary>
    public void BeginStep()
    {
        if (Done) throw new InvalidOperationException("The decode is done.");
        _core.BeginStep();
        while (BlockEnd < End && !AnyMasked(BlockStart, BlockEnd))
        {
            BlockIndex++;
            BlockStart = BlockEnd;
            BlockEnd = NextBlockEnd(BlockStart);
            StepsInBlock = 0;
            _needsRefresh = true;
        }
    }

    /// <summary>
    /// AdaBlock: sets the current block's length (at its first step only, after <see cref="Predict"/>); clamped to
    /// <c>[1, MaxBlockSize]</c> and the canvas end.
    /// </summary>
    public void ResizeBlock(int length)
    {
        if (!AtBlockStart) throw new InvalidOperationException("A block's size can change only before its first commit.");
        length = Math.Clamp(length, 1, MaxBlockSize);
        BlockEnd = Math.Min(BlockStart + length, End);
        if (_spanEnd < BlockEnd) _valid = false;
        else if (_constraint is not null && HasPredictions) Constrain();
    }

    /// <summary>One forward of the model as the cache mode requires; the predictions of the block (and beyond) reach the host.</summary>
    public void Predict()
    {
        long started = Stopwatch.GetTimestamp();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int s = BlockStart, e = BlockEnd, end = End;
        int r = s - Shift; // the first logits row this step reads: row p - Shift predicts canvas position p
        bool refresh = _cache is not null && (_needsRefresh || (RefreshEvery > 0 && _stepsSinceRefresh >= RefreshEvery));
        ModelOutput output;
        Tensor logits; // [1, span, vocab]: the rows predicting canvas positions [spanStart, spanEnd)
        int spanStart = s, spanEnd = end;
        if (DenoiserBlock is not null)
        {
            (output, logits, spanEnd) = ForwardBlockCausal(s, e); // causal across the model's blocks: see MaskedSession.BlockCausal.cs
        }
        else if (_cache is null)
        {
            output = Forward(0, end, null);
            logits = output.Logits.narrow(1, r, end - s);
        }
        else if (refresh)
        {
            _cache.Reset();
            output = Forward(0, end, _cache); // the cache now holds every position's K/V
            logits = output.Logits.narrow(1, r, end - s);
            if (CacheMode == MaskedCacheMode.Prefix) _cache.Truncate(r);
            _arranged = false;
            _needsRefresh = false;
            _stepsSinceRefresh = 0;
        }
        else if (CacheMode == MaskedCacheMode.Prefix)
        {
            output = Forward(r, end, _cache);   // (row before the block when shifted +) block + suffix over the cached prefix
            logits = output.Logits.narrow(1, 0, end - s);
            _cache.Truncate(r);
        }
        else
        {
            if (!_arranged) ArrangeDual(r, e, end);
            int cached = _cache.Length;         // [prefix | suffix]
            output = Forward(r, e, _cache);     // the block only (and the row before it when shifted)
            logits = output.Logits.narrow(1, 0, e - s);
            _cache.Truncate(cached);
            spanEnd = e;
        }
        using (output)
        {
            _stepsSinceRefresh++;
            Score(logits, _statsHost);
            InstallRow(_statsHost, 0, spanStart, spanEnd, logits[0]);
            _installed = false;
        }
        if (_constraint is not null) Constrain();
        if (_first) { _core.EndPrefill(started); _first = false; }
    }

    // Forwards canvas [from, to) at its true positions with an all-true mask over the cached keys and itself.
    private ModelOutput Forward(int from, int to, KVCache? cache)
    {
        int n = to - from;
        int keys = (cache?.Length ?? 0) + n;
        var tokens = _canvas.Device.narrow(1, from, n);
        var positions = _positions.narrow(1, from, n);
        var mask = _true.expand(1, 1, n, keys); // bidirectional
        Forwards++;
        _core.CountForward();
        return _model.Forward(tokens, positions, mask, cache);
    }

    // Dual cache layout: keep slots [0, s) (prefix) and move slots [e, end) (suffix) to [s, s + end - e).
    private void ArrangeDual(int s, int e, int end)
    {
        int suffix = end - e;
        for (int i = 0; i < suffix; i++) _compactOffsets[i] = e - s + i;
        _cache!.Compact(s, _compactOffsets.AsSpan(0, suffix));
        _arranged = true;
    }

    /// <summary>
    /// Turns logits <c>[rows, span, vocab]</c> into per-position confidence, token and margin, copied to
    /// <paramref name="statsHost"/> (<c>[≥rows, 3, maxLength]</c> float64 CPU) in one copy.
    /// </summary>
    internal void Score(Tensor logits, Tensor statsHost)
    {
        long rows = logits.shape[0], span = logits.shape[1], vocab = logits.shape[2];
        var p = logits.to_type(ScalarType.Float64).softmax(-1);  // [rows, span, vocab]
        p.index_fill_(-1, _maskIndex, Scalars.Zero);                       // a mask is never a prediction
        var (top, topIndex) = p.topk(2, dim: -1);                 // [rows, span, 2]
        var first = top.select(-1, 0);
        Tensor token, confidence;
        if (Sampler.IsGreedy)
        {
            token = topIndex.select(-1, 0);
            confidence = first;
        }
        else
        {
            var q = Sampler.Probabilities(logits.reshape(rows * span, vocab)).index_fill_(-1, _maskIndex, Scalars.Zero);
            token = Sampler.SampleRows(q).view(rows, span);
            confidence = p.gather(-1, token.unsqueeze(-1)).squeeze(-1);
        }
        var margin = first - top.select(-1, 1);
        var packed = stack([confidence, token.to_type(ScalarType.Float64), margin], 1); // [rows, 3, span]
        statsHost.narrow(0, 0, rows).narrow(2, 0, span).copy_(packed);
    }

    /// <summary>Makes row <paramref name="row"/> of scored stats this canvas's predictions over <c>[spanStart, spanEnd)</c>.</summary>
    internal void InstallRow(Tensor statsHost, int row, int spanStart, int spanEnd, Tensor rowLogits /* [span, vocab] */)
    {
        int width = (int)statsHost.shape[2];
        var stats = MemoryMarshal.Cast<byte, double>(statsHost.bytes).Slice(row * 3 * width, 3 * width);
        int span = spanEnd - spanStart;
        for (int i = 0; i < span; i++)
        {
            _confidence[spanStart + i] = stats[i];
            _tokens[spanStart + i] = (long)stats[width + i];
            _margin[spanStart + i] = stats[2 * width + i];
        }
        _spanStart = spanStart;
        _spanEnd = spanEnd;
        _valid = true;
        _installed = true;
        // Up to the largest block, so a block AdaBlock widens still has its logits (credits, DINGO).
        int rows = Math.Min(MaxBlockSize, span);
        _blockLogitsRows = 0;
        if (spanStart == BlockStart && rows > 0)
        {
            _blockLogits.narrow(0, 0, rows).copy_(rowLogits.narrow(0, 0, rows));
            _blockLogitsRows = rows;
            _blockLogitsStart = spanStart;
        }
    }

    /// <summary>
    /// DINGO: replaces the block's masked predictions by the best (or a sampled) assignment the constraint accepts; when
    /// none exists, ends the decode as unsatisfiable.
    /// </summary>
    private void Constrain()
    {
        if (Done) return;
        int s = BlockStart, n = BlockLength, vocab = (int)_blockLogits.shape[1];
        ConstrainPredictions(HostLogits(n), vocab, _tokens.AsSpan(s, n), _confidence.AsSpan(s, n), _margin.AsSpan(s, n));
    }

    /// <summary>
    /// DINGO over the current block for predictions given as logits rows (<c>[BlockLength, stride]</c>, host floats: the
    /// model's, or a state primitive's fused scores): writes the assignment's token, probability and margin per block
    /// offset at the masked offsets. Returns false, and ends the decode as unsatisfiable, when no assignment exists.
    /// </summary>
    internal bool ConstrainPredictions(ReadOnlySpan<float> logits, int stride, Span<long> tokens, Span<double> confidence, Span<double> margin)
    {
        int s = BlockStart, n = BlockLength;
        var canvas = Canvas;
        var committed = _committedScratch.AsSpan(0, n);
        for (int i = 0; i < n; i++) committed[i] = _masked[s + i] ? -1 : canvas[s + i];
        var assignment = _assignment.AsSpan(0, n);
        double temperature = Sampler.Settings.IsGreedy ? 0 : Sampler.Settings.Temperature;
        if (!_dingo!.Solve(StateAt(s), committed, logits.Slice(0, n * stride), stride, End - BlockEnd, assignment, temperature))
        {
            _text.Stop(Decoding.StopReason.Unsatisfiable);
            return false;
        }
        for (int i = 0; i < n; i++)
        {
            if (committed[i] >= 0) continue;
            var row = logits.Slice(i * stride, stride);
            int token = (int)assignment[i];
            // The chosen token's probability from the installed pair (a token and its probability under these logits,
            // as Score or an earlier pass left it): p(x) = p(y) exp(l_x - l_y), so no row is normalised again.
            int y = (int)tokens[i];
            double py = confidence[i], p;
            if (py > 0 && (uint)y < (uint)row.Length && !float.IsNegativeInfinity(row[y]))
                p = py * Math.Exp(row[token] - row[y]);
            else
            {
                float max = TensorPrimitives.Max(row);
                double z = 0;
                foreach (float l in row) z += Math.Exp(l - max);
                p = Math.Exp(row[token] - max) / z;
            }
            // The best other token (the mask token is never a prediction), in probability through the same identity.
            float other = MaxExcept(row, token, (int)MaskTokenId);
            tokens[i] = token;
            confidence[i] = p;
            margin[i] = p - p * Math.Exp(other - row[token]);
        }
        return true;
    }

    // The largest value of `row` outside indices a and b (SIMD over the three slices between them).
    private static float MaxExcept(ReadOnlySpan<float> row, int a, int b)
    {
        if (a > b) (a, b) = (b, a);
        float max = float.NegativeInfinity;
        if (a > 0) max = Math.Max(max, TensorPrimitives.Max(row[..Math.Min(a, row.Length)]));
        if (b > a + 1 && a + 1 < row.Length) max = Math.Max(max, TensorPrimitives.Max(row[(a + 1)..Math.Min(b, row.Length)]));
        if (b + 1 < row.Length) max = Math.Max(max, TensorPrimitives.Max(row[(b + 1)..]));
        return max;
    }

    // The constraint state after the committed text before canvas position `end` (every position there is committed).
    private int StateAt(int end)
    {
        var matcher = _constraint!;
        var vocabulary = matcher.Vocabulary;
        var canvas = Canvas;
        int state = matcher.Start;
        for (int p = PromptLength; p < end && state != TokenMatcher.Dead; p++)
            state = state == TokenMatcher.Finished
                ? (vocabulary.IsEnd((int)canvas[p]) || IsEos(canvas[p]) ? TokenMatcher.Finished : TokenMatcher.Dead)
                : matcher.Next(state, (int)canvas[p]);
        return state;
    }

    // The block logits' first rows as host floats [rows, vocab] (HostRows: in place on the CPU, one copy elsewhere).
    private ReadOnlySpan<float> HostLogits(int rows)
    {
        using var scope = NewDisposeScope();
        return _logitsHost.Read(_blockLogits.narrow(0, 0, rows));
    }

    /// <summary>
    /// Whether ending the text now (every masked position from the block on becomes EOS) is what the constraint accepts:
    /// always without a constraint. End-of-text prediction asks before it stops a constrained decode.
    /// </summary>
    public bool CanEndText()
    {
        if (_constraint is null) return true;
        var canvas = Canvas;
        int state = StateAt(BlockStart);
        bool ended = state == TokenMatcher.Finished;
        for (int p = BlockStart; p < End; p++)
        {
            bool eos = _masked[p] || IsEos(canvas[p]);
            if (ended) { if (!eos) return false; continue; }
            if (eos) { if (!_constraint.IsAccepting(state)) return false; ended = true; continue; }
            state = _constraint.Next(state, (int)canvas[p]);
            if (state < 0) return false;
        }
        return ended || _constraint.IsAccepting(state);
    }

    /// <summary>Counts a batched forward of <paramref name="rows"/> canvases (draft-verify).</summary>
    internal void CountForward(int rows) { Forwards++; _core.CountForward(rows); }

    internal Tensor Positions => _positions;
    internal Tensor AllTrue => _true;

    /// <summary>
    /// Writes <see cref="Selection"/> (block offsets) into the canvas, applies the EOS fill, and ends the step. The
    /// predictions become stale unless a rule installed the next canvas's own (draft-verify).
    /// </summary>
    public void Commit()
    {
        if (Done) return; // the constraint ended the decode while predicting
        var canvas = _canvas.Span<long>();
        var offsets = Selection.Offsets;
        var tokens = Selection.Tokens;
        if (offsets.Length == 0 && _maskedRemaining > 0)
            throw new InvalidOperationException("A commit rule must select at least one masked position per step.");
        int committed = 0, firstEos = int.MaxValue;
        for (int i = 0; i < offsets.Length; i++)
        {
            int p = BlockStart + offsets[i];
            if (offsets[i] < 0 || p >= BlockEnd)
                throw new InvalidOperationException($"offset {offsets[i]} is outside the current block [0, {BlockLength}).");
            if (!_masked[p]) continue; // already filled (an EOS fill earlier in this selection)
            canvas[p] = tokens[i];
            _masked[p] = false;
            committed++;
            if (_eos.Contains(tokens[i]) && p < firstEos) firstEos = p;
        }
        committed += CommitAhead(canvas, ref firstEos); // pipelined rules (D2F): positions after the block
        committed += FillEos(canvas, firstEos);
        Finish(committed);
    }

    /// <summary>End-of-text: every remaining masked position becomes EOS and the decode ends.</summary>
    public void CommitEndOfText()
    {
        if (Done) return;
        var canvas = _canvas.Span<long>();
        int committed = 0;
        for (int p = BlockStart; p < End; p++)
        {
            if (!_masked[p]) continue;
            canvas[p] = _eosToken;
            _masked[p] = false;
            committed++;
        }
        Finish(committed);
    }

    // Everything after the first committed EOS is EOS.
    private int FillEos(Span<long> canvas, int firstEos)
    {
        int filled = 0;
        if (firstEos == int.MaxValue) return 0;
        for (int p = firstEos + 1; p < End; p++)
        {
            if (_masked[p]) { _masked[p] = false; filled++; }
            canvas[p] = _eosToken;
        }
        return filled;
    }

    private void Finish(int committed)
    {
        SyncCanvas();
        _maskedRemaining -= committed;
        _valid = _installed;
        _installed = false;
        LastCommitted = committed;
        TokensCommitted += committed;
        _history[Steps] = committed;
        StepsInBlock++;
        if (_maskedRemaining == 0)
        {
            var generated = Generated;
            _text.Stop(generated.Length > 0 && _eos.Contains(generated[^1]) ? Decoding.StopReason.EndOfSequence
                       : StopRule.Exhausted(generated.Length, _text.Room) ?? Decoding.StopReason.MaxNewTokens);
        }
        // Predictions a rule installed for the canvas just committed (draft-verify) are constrained for that canvas.
        else if (_valid && _constraint is not null && _blockLogitsStart == BlockStart) Constrain();
        _core.EndStep();
    }

    private void SyncCanvas() => _canvas.Upload(End);

    private bool AnyMasked(int from, int to)
    {
        for (int p = from; p < to; p++) if (_masked[p]) return true;
        return false;
    }

    /// <summary>Ends the decode early (cancelled, or a stop string matched).</summary>
    public void Stop(StopReason reason) => _text.Stop(reason);

    public void Dispose()
    {
        _cache?.Dispose();
        _canvas.Dispose(); _positions.Dispose(); _true.Dispose(); _statsHost.Dispose(); _blockLogits.Dispose(); _maskIndex.Dispose();
        _logitsHost.Dispose();
        _blockCausalMask?.Dispose();
        Sampler.Dispose();
    }
}
