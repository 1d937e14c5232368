using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Tokenization;
using Pardec.Server.Batching;
using Pardec.Server.Metrics;
using TorchSharp;

namespace Pardec.Server.Generation;

/// <summary>
/// Serves any strategy — trees, lookahead, Medusa, prompt lookup, sampled speculation, masked canvases — with a pool
/// of its decoders, one request per decoder at a time (a decoder owns its KV cache and is not thread-safe; the models
/// are shared). No batching across requests: this is the path for the strategies whose step the row-batched engine
/// cannot run, so every library strategy can be served with its own guarantee.
/// </summary>
public sealed class DecoderPoolEngine : IGenerationEngine
{
    private readonly string _deployment;
    private readonly TextTokenizer _tokenizer;
    private readonly IReadOnlyList<int> _defaultEos;
    private readonly int _contextLength;
    private readonly ServerMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly RequestQueue _queue;
    private readonly IDecoder[] _decoders;
    private readonly Thread[] _workers;
    private readonly CancellationTokenSource _abort = new();
    private volatile bool _failed;
    private int _running, _alive;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="createDecoder">Makes one decoder (called <paramref name="decoders"/> times, up front).</param>
    public DecoderPoolEngine(string deployment, Func<IDecoder> createDecoder, int decoders, TextTokenizer tokenizer,
                             IReadOnlyList<int> defaultEos, int contextLength, int maxQueue, ServerMetrics? metrics = null, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(decoders);
        _deployment = deployment;
        _tokenizer = tokenizer;
        _defaultEos = defaultEos;
        _contextLength = contextLength;
        _metrics = metrics;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _queue = new RequestQueue(maxQueue);
        _decoders = new IDecoder[decoders];
        for (int i = 0; i < decoders; i++) _decoders[i] = createDecoder();
        _alive = decoders;
        _workers = new Thread[decoders];
        for (int i = 0; i < decoders; i++)
        {
            int index = i;
            _workers[i] = new Thread(() => Work(index)) { IsBackground = true, Name = $"pardec-pool-{deployment}-{index}" };
            _workers[i].Start();
        }
    }

    public string Kind => "decoder-pool";
    public int Running => Volatile.Read(ref _running);
    public int Waiting => _queue.Count;
    public int Capacity => _decoders.Length;
    public bool IsReady => !_failed && !_queue.IsDraining;
    public bool Failed => _failed;

    public Admission Submit(GenerationRequest request) => _failed ? Admission.Draining : _queue.Submit(request);

    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        _queue.StopAdmitting();
        for (int i = 0; i < _workers.Length; i++) _queue.Wake();
        try { await _stopped.Task.WaitAsync(cancellationToken).ConfigureAwait(false); }
        catch (OperationCanceledException)
        {
            await _abort.CancelAsync().ConfigureAwait(false);
            await _stopped.Task.ConfigureAwait(false);
        }
    }

    private void Work(int index)
    {
        var decoder = _decoders[index];
        try
        {
            while (true)
            {
                if (_queue.TryTake(out var request)) { Serve(decoder, request); continue; }
                if (_queue.IsDraining || _abort.IsCancellationRequested) break;
                _queue.Wait(TimeSpan.FromMilliseconds(200), CancellationToken.None);
            }
        }
        catch (Exception e)
        {
            _failed = true;
            _logger.LogError(e, "Deployment {Deployment}: decoder {Index} failed", _deployment, index);
        }
        if (Interlocked.Decrement(ref _alive) == 0)
        {
            while (_queue.TryTake(out var left)) left.Writer.TryComplete(new InvalidOperationException("The deployment's decoders stopped."));
            _stopped.TrySetResult();
        }
        else _queue.Wake(); // let a sibling see the drain too
    }

    private void Serve(IDecoder decoder, GenerationRequest request)
    {
        var queueTime = Stopwatch.GetElapsedTime(request.ArrivedAt);
        var reply = new ReplyText(request, _tokenizer, _defaultEos, _contextLength);
        var observer = new Observer(reply, request, _metrics, _deployment);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(request.Cancellation, _abort.Token);
        Interlocked.Increment(ref _running);
        _metrics?.QueueTime(_deployment, queueTime);
        using var scope = RequestScope.Begin(_logger, request.Id);
        _logger.LogInformation("Decoding on {Deployment} after {QueueMs:F1} ms in the queue ({PromptTokens} prompt tokens)",
                               _deployment, queueTime.TotalMilliseconds, request.Prompt.Length);
        try
        {
            StopReason reason;
            if (cancel.IsCancellationRequested) reason = StopReason.Cancelled;
            else
            {
                using var noGrad = torch.no_grad();
                // The decoder's own budget is the request's; stop strings and end of turn are watched here.
                var options = request.Options with { StopStrings = [] };
                var result = decoder.Generate(request.Prompt, options, observer, cancel.Token);
                reason = reply.Stopped ?? result.StopReason;
                observer.Steps = result.Stats.Steps;
            }
            var ttft = observer.FirstTokenAt is { } first ? Stopwatch.GetElapsedTime(request.ArrivedAt, first) : (TimeSpan?)null;
            var usage = new GenerationUsage(request.Prompt.Length, reply.Tokens.Count, observer.Steps, observer.Drafted, observer.Accepted, queueTime, ttft);
            reply.Finish(reason, usage);
            _metrics?.Finished(_deployment, reason, usage);
            _logger.LogInformation("Finished on {Deployment} ({Reason}): {Tokens} tokens in {Steps} steps", _deployment, reason, reply.Tokens.Count, observer.Steps);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or InvalidOperationException)
        {
            _logger.LogWarning(e, "Request failed on {Deployment}", _deployment);
            request.Writer.TryComplete(e);
        }
        finally { Interlocked.Decrement(ref _running); }
    }

    public void Dispose()
    {
        _queue.StopAdmitting();
        _abort.Cancel();
        for (int i = 0; i < _workers.Length; i++) _queue.Wake();
        foreach (var worker in _workers) worker.Join();
        foreach (var decoder in _decoders) decoder.Dispose();
        _abort.Dispose();
    }

    // Feeds committed tokens to the reply and ends the decode at a stop (string, end of turn, budget, context).
    private sealed class Observer(ReplyText reply, GenerationRequest request, ServerMetrics? metrics, string deployment) : IDecodeObserver
    {
        private long _last;
        public long? FirstTokenAt { get; private set; }
        public int Steps { get; set; }
        public int Drafted { get; private set; }
        public int Accepted { get; private set; }

        public bool OnStep(in DecodeStepView step)
        {
            int drafted = Math.Max(0, step.TreeTokens.Length - 1);
            // A causal step commits its accepted drafts and one token of the target's own.
            int accepted = Math.Max(0, Math.Min(drafted, step.Committed.Length - 1));
            Drafted += drafted;
            Accepted += accepted;
            if (drafted > 0) metrics?.Speculation(deployment, drafted, accepted);
            bool go = true;
            int committed = 0;
            foreach (int token in step.Committed)
            {
                if (!(go = reply.Push(token))) { committed++; break; }
                committed++;
            }
            long now = Stopwatch.GetTimestamp();
            if (committed > 0)
            {
                if (FirstTokenAt is null) { FirstTokenAt = now; metrics?.TimeToFirstToken(deployment, Stopwatch.GetElapsedTime(request.ArrivedAt, now)); }
                else metrics?.InterTokenLatency(deployment, Stopwatch.GetElapsedTime(_last, now) / committed, committed);
                _last = now;
            }
            reply.Flush();
            return go && !request.Cancellation.IsCancellationRequested;
        }
    }
}
