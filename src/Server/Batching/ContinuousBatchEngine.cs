using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Tokenization;
using Pardec.Server.Generation;
using Pardec.Server.Metrics;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Server.Batching;

/// <summary>
/// Continuous batching (Orca's iteration-level scheduling; Sarathi-Serve's chunked prefill) of plain decoding and of
/// greedy draft-chain speculation. Requests join free rows and leave them at step boundaries; every step is one target
/// forward over all rows, each with its own block: a row still reading its prompt feeds the next chunk of it (at most
/// <see cref="BatchEngineOptions.PrefillChunk"/> tokens), a decoding row its root and, when it drafts, its drafted
/// chain. Rows accept different numbers of tokens, stop on their own (end of sequence, budget, stop string, context)
/// and are freed when their client goes away.
/// </summary>
/// <remarks>
/// <para><b>Lossless under batching.</b> A row sees only its own cache slots (the valid mask of <see cref="RowCache"/>)
/// at its own positions, and a greedy row keeps the longest draft prefix equal to the target's argmax plus the
/// target's next token, so its tokens are its solo greedy tokens whatever else shares the batch (exactly in bf16; in
/// f32 up to the GEMM's last-bit variance with the number of rows, which a near-tie argmax could expose).</para>
/// <para><b>Sampling</b> rows (temperature &gt; 0) do not draft: each step samples the target's next token with the
/// request's own seeded generator, as plain sampling does.</para>
/// <para><b>Constraints</b> (a request's <c>response_format</c>) are per row: each row keeps its own constraint state, its
/// picks are the argmax (or the sample) over the tokens its state allows after the kept prefix, so a greedy row under a
/// constraint commits exactly its solo constrained greedy tokens whatever shares the batch. Drafts are drawn unconstrained
/// and masked at verification. A row whose constraint admits no further token ends with
/// <see cref="StopReason.Unsatisfiable"/>.</para>
/// </remarks>
public sealed class ContinuousBatchEngine : IGenerationEngine
{
    private readonly string _deployment;
    private readonly BatchEngineOptions _options;
    private readonly TextTokenizer _tokenizer;
    private readonly IReadOnlyList<int> _defaultEos;
    private readonly ServerMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly RequestQueue _queue;
    private readonly RowCache _target;
    private readonly RowDraftChain? _draft;
    private readonly SpeculationPolicy _policy;
    private readonly Row?[] _rows;
    private readonly int[] _chain;            // [batch, draftLength + 1]: root, then drafts
    private readonly bool[] _drafting;
    private readonly int[] _block, _committed; // per row: this step's forward width, and tokens it committed
    private readonly IReadOnlyList<int>?[] _texts;
    private float[] _maskedRow = [];          // [vocab]: a constrained sampled row, masked
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _abort, _failed;
    private int _running;

    public ContinuousBatchEngine(string deployment, BatchEngineOptions options, TextTokenizer tokenizer, int maxQueue,
                                 ServerMetrics? metrics = null, ILogger? logger = null)
    {
        options.Validate();
        _deployment = deployment;
        _options = options;
        _tokenizer = tokenizer;
        _defaultEos = tokenizer.EosIds.Count > 0 ? tokenizer.EosIds : options.Target.Config.EosTokenIds;
        _metrics = metrics;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _queue = new RequestQueue(maxQueue);
        _target = new RowCache(options.Target, options.Batch, options.Slots, options.MaxWidth);
        if (options.Draft is { } draft)
            _draft = new RowDraftChain(draft, options.DraftSkip, options.Batch, options.Slots, options.MaxWidth, options.DraftLength);
        _policy = new SpeculationPolicy(options.Speculation, options.Batch);
        _rows = new Row?[options.Batch];
        _chain = new int[options.Batch * (options.DraftLength + 1)];
        _drafting = new bool[options.Batch];
        _block = new int[options.Batch];
        _committed = new int[options.Batch];
        _texts = new IReadOnlyList<int>?[options.Batch];
        _thread = new Thread(Run) { IsBackground = true, Name = "pardec-batch-" + deployment };
        _thread.Start();
    }

    public string Kind => "continuous-batching";
    public int Running => Volatile.Read(ref _running);
    public int Waiting => _queue.Count;
    public int Capacity => _options.Batch;
    public bool IsReady => !_failed && !_queue.IsDraining;
    public bool Failed => _failed;

    /// <summary>Steps run so far (one target forward each).</summary>
    public long Steps { get; private set; }

    /// <summary>Steps in which the greedy rows drafted (with <see cref="SpeculationMode.Auto"/>, the load decides).</summary>
    public long DraftingSteps { get; private set; }

    /// <summary>Compactions of the target cache so far (rows that came and went left holes).</summary>
    public int Compactions => _target.Compactions;

    public Admission Submit(GenerationRequest request)
    {
        if (_failed) return Admission.Draining;
        return _queue.Submit(request);
    }

    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        _queue.StopAdmitting();
        try { await _stopped.Task.WaitAsync(cancellationToken).ConfigureAwait(false); }
        catch (OperationCanceledException)
        {
            _abort = true;
            _queue.Wake();
            await _stopped.Task.ConfigureAwait(false);
        }
    }

    private void Run()
    {
        using var noGrad = no_grad();
        try
        {
            while (true)
            {
                Admit();
                if (_abort) CancelAll();
                DropCancelled();
                if (Running == 0)
                {
                    if (_queue.IsDraining && _queue.Count == 0) break;
                    _queue.Wait(TimeSpan.FromMilliseconds(200), CancellationToken.None);
                    continue;
                }
                Step();
            }
        }
        catch (Exception e)
        {
            _failed = true;
            _logger.LogError(e, "Deployment {Deployment}: the batch loop failed; failing its requests", _deployment);
            for (int b = 0; b < _rows.Length; b++)
                if (_rows[b] is { } row) { row.Request.Writer.TryComplete(e); _rows[b] = null; }
            while (_queue.TryTake(out var waiting)) waiting.Writer.TryComplete(e);
            Volatile.Write(ref _running, 0);
        }
        _stopped.TrySetResult();
    }

    // Requests take free rows only here, between steps.
    private void Admit()
    {
        for (int b = 0; b < _rows.Length; b++)
        {
            if (_rows[b] is not null) continue;
            GenerationRequest request;
            do
            {
                if (!_queue.TryTake(out request)) return;
            } while (!TryStart(b, request));
        }
    }

    private bool TryStart(int b, GenerationRequest request)
    {
        var queueTime = Stopwatch.GetElapsedTime(request.ArrivedAt);
        var row = new Row(request, new ReplyText(request, _tokenizer, _defaultEos, _options.ContextLength), queueTime);
        if (request.Cancellation.IsCancellationRequested || request.Options.MaxNewTokens == 0)
        {
            Finish(row, request.Cancellation.IsCancellationRequested ? StopReason.Cancelled : StopReason.MaxNewTokens);
            return false;
        }
        if (request.Prompt.Length >= _options.ContextLength)
        {
            request.Writer.TryComplete(new ArgumentException(
                $"The prompt has {request.Prompt.Length} tokens; this model's context holds {_options.ContextLength}."));
            return false;
        }
        if (request.Options.Constraint is { } matcher)
        {
            row.Constraint = new ConstraintState(_options.ContextLength);
            row.Constraint.Start(matcher);
            if (row.Constraint.IsStuck) { Finish(row, StopReason.Unsatisfiable); return false; }
        }
        if (!request.Options.IsGreedy)
        {
            row.Sampler = new NodeSampler(1, _options.Target.Device);
            row.Sampler.Configure(SamplingSettings.From(request.Options));
        }
        _rows[b] = row;
        _draft?.Join(b);
        Interlocked.Increment(ref _running);
        _metrics?.QueueTime(_deployment, queueTime);
        using (RequestScope.Begin(_logger, request.Id))
            _logger.LogInformation("Admitted to row {Row} of {Deployment} after {QueueMs:F1} ms in the queue ({PromptTokens} prompt tokens)",
                                   b, _deployment, queueTime.TotalMilliseconds, request.Prompt.Length);
        return true;
    }

    private void DropCancelled()
    {
        for (int b = 0; b < _rows.Length; b++)
            if (_rows[b] is { } row && row.Request.Cancellation.IsCancellationRequested) Free(b, StopReason.Cancelled);
    }

    private void CancelAll()
    {
        for (int b = 0; b < _rows.Length; b++)
            if (_rows[b] is not null) Free(b, StopReason.Cancelled);
        while (_queue.TryTake(out var waiting))
            Finish(new Row(waiting, new ReplyText(waiting, _tokenizer, _defaultEos, _options.ContextLength), Stopwatch.GetElapsedTime(waiting.ArrivedAt)),
                   StopReason.Cancelled);
    }

    private void Step()
    {
        int gamma = _options.DraftLength, width = gamma + 1, batch = _rows.Length;
        long started = Stopwatch.GetTimestamp();
        int greedyRows = 0;
        bool prefilling = false;
        foreach (var row in _rows)
        {
            if (row is { Prefilling: false, Sampler: null }) greedyRows++;
            prefilling |= row is { Prefilling: true };
        }
        bool speculate = _draft is not null && greedyRows > 0 && _policy.ShouldDraft(greedyRows);
        bool anyDrafting = false;
        for (int b = 0; b < batch; b++)
        {
            var row = _rows[b];
            // A row drafts when it decodes greedily and its drafts' positions stay inside the context.
            _drafting[b] = speculate && row is { Prefilling: false, Sampler: null } && row.Context.Count - 1 + gamma < _options.ContextLength;
            _texts[b] = row?.Context;
            anyDrafting |= _drafting[b];
            if (row is { Prefilling: false }) _chain[b * width] = row.Context[^1];
        }
        if (anyDrafting) { _draft!.Propose(_drafting, _texts, _chain); DraftingSteps++; }

        int n = 0;
        var block = _block;
        Array.Clear(block);
        for (int b = 0; b < batch; b++)
        {
            if (_rows[b] is not { } row) continue;
            block[b] = row.Prefilling ? Math.Min(_options.PrefillChunk, row.PromptToFeed - row.Fed) : _drafting[b] ? width : 1;
            n = Math.Max(n, block[b]);
        }
        _target.Begin(n);
        for (int b = 0; b < batch; b++)
        {
            if (_rows[b] is not { } row) continue;
            if (row.Prefilling)
                for (int j = 0; j < block[b]; j++) _target.Put(b, j, row.Request.Prompt[row.Fed + j], row.Fed + j);
            else
                for (int j = 0; j < block[b]; j++) _target.Put(b, j, _chain[b * width + j], row.Context.Count - 1 + j);
        }
        Steps++;
        var committed = _committed;
        Array.Clear(committed);
        int acceptedSum = 0, draftingRows = 0;
        using (var output = _target.Forward())
        {
            var logits = output.Logits; // [batch, n, vocab]
            long[]? devicePicks = null;
            Tensor? hostCopy = null; // device logits, on the host for the constrained rows' masked picks
            if (!HostLogits.Readable(logits))
            {
                using (NewDisposeScope()) devicePicks = logits.argmax(-1).cpu().data<long>().ToArray(); // [batch, n]: one host sync
                if (_rows.Any(r => r?.Constraint is not null)) hostCopy = logits.to(CPU).to_type(ScalarType.Float32).contiguous();
            }
            using var hostCopyScope = hostCopy;
            var hostLogits = hostCopy ?? logits;
            for (int b = 0; b < batch; b++)
            {
                if (_rows[b] is not { } row) continue;
                if (row.Prefilling)
                {
                    row.Fed += block[b];
                    continue;
                }
                int accepted = 0, next;
                if (row.Constraint is { } constraint)
                    next = ConstrainedPicks(hostLogits, row, constraint, b, block[b], width, out accepted);
                else if (row.Sampler is { } sampler)
                {
                    using (NewDisposeScope()) next = sampler.PickOne(logits.select(0, b).select(0, 0));
                }
                else
                {
                    // Greedy verification (Leviathan et al. 2023): keep drafts while each equals the target's argmax
                    // after the tokens before it; the argmax after the kept prefix is the row's next token.
                    next = Pick(logits, devicePicks, n, b, 0);
                    while (accepted + 1 < block[b] && _chain[b * width + accepted + 1] == next)
                    {
                        accepted++;
                        next = Pick(logits, devicePicks, n, b, accepted);
                    }
                }
                _target.Keep(b, 1 + accepted); // the root and the accepted drafts are cached; `next` is the new root
                row.Steps++;
                if (_drafting[b])
                {
                    row.Drafted += gamma;
                    row.Accepted += accepted;
                    acceptedSum += accepted;
                    draftingRows++;
                    _metrics?.Speculation(_deployment, gamma, accepted);
                }
                bool go = true;
                for (int j = 1; j <= accepted && go; j++) go = Commit(row, _chain[b * width + j], ref committed[b]);
                if (go) Commit(row, next, ref committed[b]);
            }
        }
        _target.End();

        long now = Stopwatch.GetTimestamp();
        // Steps whose timing says what drafting costs at this load: no prefill chunk, and no catch-up of the tokens of
        // steps that did not draft (paid once when drafting resumes, not per drafting step).
        if (!prefilling && greedyRows > 0 && (!anyDrafting || _draft!.LastCatchUp <= width))
            _policy.Record(greedyRows, anyDrafting, Stopwatch.GetElapsedTime(started, now).TotalSeconds,
                           draftingRows > 0 ? (double)acceptedSum / draftingRows : 0);
        for (int b = 0; b < batch; b++)
        {
            if (_rows[b] is not { } row || committed[b] == 0) continue;
            if (row.FirstTokenAt is null)
            {
                row.FirstTokenAt = now;
                _metrics?.TimeToFirstToken(_deployment, Stopwatch.GetElapsedTime(row.Request.ArrivedAt, now));
            }
            else _metrics?.InterTokenLatency(_deployment, Stopwatch.GetElapsedTime(row.LastTokenAt, now) / committed[b], committed[b]);
            row.LastTokenAt = now;
            row.Reply.Flush();
            if (row.Reply.Stopped is { } reason) Free(b, reason);
            else if (row.Constraint is { } c && (c.IsStuck || c.Current == TokenMatcher.Dead)) Free(b, StopReason.Unsatisfiable);
        }
    }

    // Appends a committed token to the reply, the context and the row's constraint; false when the row must stop.
    private static bool Commit(Row row, int token, ref int committed)
    {
        bool go = row.Reply.Push(token);
        row.Context.Add(token);
        committed++;
        if (row.Constraint is { } c && go)
        {
            c.Advance(token);
            go = c.Current >= 0 && !c.IsStuck;
        }
        return go;
    }

    /// <summary>
    /// A constrained row's verification: greedy keeps drafts while each equals the argmax over the tokens the constraint
    /// allows after the kept prefix (Leviathan et al. 2023's rule on the masked target); a sampling row draws its next
    /// token from its masked row. Returns the next token; <paramref name="accepted"/> drafts are kept.
    /// </summary>
    private int ConstrainedPicks(Tensor logits, Row row, ConstraintState constraint, int b, int block, int width, out int accepted)
    {
        var matcher = constraint.Matcher!;
        var view = HostLogits.Of(logits);
        int state = constraint.Current;
        accepted = 0;
        if (row.Sampler is { } sampler)
        {
            var source = view.Row(b, 0);
            if (_maskedRow.Length < source.Length) _maskedRow = new float[source.Length];
            var masked = _maskedRow.AsSpan(0, source.Length);
            source.CopyTo(masked);
            matcher.MaskLogits(state, masked);
            return sampler.Sample(masked);
        }
        int next = MaskedArgmax(view.Row(b, 0), matcher.AllowedBits(state));
        while (accepted + 1 < block && _chain[b * width + accepted + 1] == next)
        {
            accepted++;
            state = matcher.Next(state, next);
            if (state < 0) break; // an end token was accepted: the reply stops there
            next = MaskedArgmax(view.Row(b, accepted), matcher.AllowedBits(state));
        }
        return next;
    }

    // The highest logit among the allowed ids (ties: the lowest id, as the unconstrained argmax), or -1 when none is.
    private static int MaskedArgmax(ReadOnlySpan<float> row, ReadOnlySpan<ulong> allowed)
    {
        int best = -1;
        float bestValue = float.NegativeInfinity;
        for (int w = 0; w < allowed.Length; w++)
        {
            ulong word = allowed[w];
            while (word != 0)
            {
                int t = w * 64 + System.Numerics.BitOperations.TrailingZeroCount(word);
                word &= word - 1;
                if (t >= row.Length) return best;
                if (best < 0 || row[t] > bestValue) { best = t; bestValue = row[t]; }
            }
        }
        return best;
    }

    private static int Pick(Tensor logits, long[]? devicePicks, int n, int b, int column) =>
        devicePicks is not null ? (int)devicePicks[b * n + column] : NodeSampler.IndexOfMax(HostLogits.Of(logits).Row(b, column));

    private void Free(int b, StopReason reason)
    {
        var row = _rows[b]!;
        _rows[b] = null;
        _target.Release(b);
        _draft?.Release(b);
        Interlocked.Decrement(ref _running);
        Finish(row, reason);
    }

    private void Finish(Row row, StopReason reason)
    {
        var ttft = row.FirstTokenAt is { } first ? Stopwatch.GetElapsedTime(row.Request.ArrivedAt, first) : (TimeSpan?)null;
        var usage = new GenerationUsage(row.Request.Prompt.Length, row.Reply.Tokens.Count, row.Steps, row.Drafted, row.Accepted, row.QueueTime, ttft);
        row.Sampler?.Dispose();
        row.Reply.Finish(reason, usage);
        _metrics?.Finished(_deployment, reason, usage);
        using (RequestScope.Begin(_logger, row.Request.Id))
            _logger.LogInformation("Finished on {Deployment} ({Reason}): {Tokens} tokens in {Steps} steps, {Accepted}/{Drafted} drafts accepted",
                                   _deployment, reason, row.Reply.Tokens.Count, row.Steps, row.Accepted, row.Drafted);
    }

    public void Dispose()
    {
        _queue.StopAdmitting();
        _abort = true;
        _queue.Wake();
        _thread.Join();
        _draft?.Dispose();
        _target.Dispose();
    }

    /// <summary>A request in a batch row: its text so far (prompt, then committed tokens), prefill progress and counters.</summary>
    private sealed class Row(GenerationRequest request, ReplyText reply, TimeSpan queueTime)
    {
        public GenerationRequest Request { get; } = request;
        public ReplyText Reply { get; } = reply;
        public TimeSpan QueueTime { get; } = queueTime;
        public List<int> Context { get; } = [.. request.Prompt];
        public NodeSampler? Sampler { get; set; }
        /// <summary>Where the reply stands in its <c>response_format</c> constraint; null when unconstrained.</summary>
        public ConstraintState? Constraint { get; set; }
        /// <summary>Prompt tokens forwarded so far; the last prompt token is the first step's root, not prefilled.</summary>
        public int Fed { get; set; }
        public int PromptToFeed => Request.Prompt.Length - 1;
        public bool Prefilling => Fed < PromptToFeed;
        public int Steps { get; set; }
        public int Drafted { get; set; }
        public int Accepted { get; set; }
        public long? FirstTokenAt { get; set; }
        public long LastTokenAt { get; set; }
    }
}
