using System.Diagnostics;
using System.Diagnostics.Metrics;
using Pardec.Runtime.Decoding;
using Pardec.Server.Generation;

namespace Pardec.Server.Metrics;

/// <summary>
/// The server's instruments on the <c>Pardec.Server</c> meter, exported at <c>/metrics</c> by OpenTelemetry's
/// Prometheus exporter (names there get units and <c>_total</c> suffixes, e.g. <c>pardec_time_to_first_token_seconds</c>).
/// Every instrument carries the deployment; draft counters also carry the draft position (1 = the first drafted token),
/// so the acceptance curve by position — where speculation stops paying — reads straight off a scrape.
/// </summary>
public sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "Pardec.Server";

    /// <summary>Latency buckets (seconds) fine enough for tiny CPU models and coarse enough for big ones.</summary>
    public static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private readonly Meter _meter;
    private readonly Histogram<double> _ttft, _itl, _queue, _e2e;
    private readonly Counter<long> _requests, _promptTokens, _completionTokens, _drafted, _accepted, _steps;
    private readonly List<(string Deployment, IGenerationEngine Engine)> _engines = [];

    public ServerMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _ttft = _meter.CreateHistogram<double>("pardec.time_to_first_token", "s", "Time from a request's arrival to its first token",
                                               advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _itl = _meter.CreateHistogram<double>("pardec.inter_token_latency", "s", "Time between a request's tokens after the first",
                                              advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _queue = _meter.CreateHistogram<double>("pardec.queue_time", "s", "Time a request waited for a batch row or a decoder",
                                                advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _e2e = _meter.CreateHistogram<double>("pardec.request_duration", "s", "Time from a request's arrival to its last token",
                                              advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _requests = _meter.CreateCounter<long>("pardec.requests", "{request}", "Finished requests by reason");
        _promptTokens = _meter.CreateCounter<long>("pardec.prompt_tokens", "{token}", "Prompt tokens of finished requests");
        _completionTokens = _meter.CreateCounter<long>("pardec.completion_tokens", "{token}", "Generated tokens of finished requests");
        _steps = _meter.CreateCounter<long>("pardec.steps", "{step}", "Decode steps taken for requests (a batched step counts once per row)");
        _drafted = _meter.CreateCounter<long>("pardec.draft_tokens", "{token}", "Drafted tokens verified, by draft position");
        _accepted = _meter.CreateCounter<long>("pardec.accepted_tokens", "{token}", "Drafted tokens accepted, by draft position");
        _meter.CreateObservableGauge("pardec.requests_running", () => Observe(e => e.Running), "{request}", "Requests decoding now");
        _meter.CreateObservableGauge("pardec.requests_waiting", () => Observe(e => e.Waiting), "{request}", "Requests queued for a row or a decoder");
    }

    /// <summary>Adds an engine to the running/waiting gauges.</summary>
    public void Track(string deployment, IGenerationEngine engine)
    {
        lock (_engines) _engines.Add((deployment, engine));
    }

    private IEnumerable<Measurement<int>> Observe(Func<IGenerationEngine, int> value)
    {
        lock (_engines)
            return _engines.Select(e => new Measurement<int>(value(e.Engine), new KeyValuePair<string, object?>("deployment", e.Deployment))).ToArray();
    }

    private static KeyValuePair<string, object?> Deployment(string name) => new("deployment", name);

    public void QueueTime(string deployment, TimeSpan time) => _queue.Record(time.TotalSeconds, Deployment(deployment));

    public void TimeToFirstToken(string deployment, TimeSpan time) => _ttft.Record(time.TotalSeconds, Deployment(deployment));

    /// <summary>A step committed <paramref name="tokens"/> tokens, <paramref name="perToken"/> apart on average.</summary>
    public void InterTokenLatency(string deployment, TimeSpan perToken, int tokens)
    {
        for (int i = 0; i < tokens; i++) _itl.Record(perToken.TotalSeconds, Deployment(deployment));
    }

    /// <summary>One verification of <paramref name="drafted"/> drafted tokens, of which the first <paramref name="accepted"/> were kept.</summary>
    public void Speculation(string deployment, int drafted, int accepted)
    {
        for (int position = 1; position <= drafted; position++)
        {
            var tags = new TagList { Deployment(deployment), { "position", position } };
            _drafted.Add(1, tags);
            if (position <= accepted) _accepted.Add(1, tags);
        }
    }

    public void Finished(string deployment, StopReason reason, GenerationUsage usage)
    {
        _requests.Add(1, Deployment(deployment), new KeyValuePair<string, object?>("reason", reason.ToString()));
        _promptTokens.Add(usage.PromptTokens, Deployment(deployment));
        _completionTokens.Add(usage.CompletionTokens, Deployment(deployment));
        _steps.Add(usage.Steps, Deployment(deployment));
    }

    public void RequestDuration(string deployment, TimeSpan time) => _e2e.Record(time.TotalSeconds, Deployment(deployment));

    public void Dispose() => _meter.Dispose();
}
