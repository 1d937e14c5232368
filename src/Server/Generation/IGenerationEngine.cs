namespace Pardec.Server.Generation;

/// <summary>Why an engine did not take a request.</summary>
public enum Admission
{
    Accepted,
    /// <summary>The waiting queue is full: answer 429 with Retry-After.</summary>
    QueueFull,
    /// <summary>The engine is draining for shutdown: answer 503.</summary>
    Draining,
}

/// <summary>
/// Runs generation requests for one deployment. Engines are thread-safe: requests arrive from any thread; the
/// engine decodes on its own thread(s) and answers through each request's channel.
/// </summary>
public interface IGenerationEngine : IDisposable
{
    /// <summary>How the engine runs requests ("continuous-batching" or "decoder-pool"), for /v1/models and logs.</summary>
    string Kind { get; }

    /// <summary>Requests decoding now (batch rows in use, or busy decoders).</summary>
    int Running { get; }

    /// <summary>Requests admitted but not yet decoding.</summary>
    int Waiting { get; }

    /// <summary>Most requests decoding at once.</summary>
    int Capacity { get; }

    /// <summary>False once draining or after a failure stopped the engine.</summary>
    bool IsReady { get; }

    /// <summary>An unexpected error stopped the engine (its requests failed): /health reports it so the process is restarted.</summary>
    bool Failed { get; }

    /// <summary>Queues a request; never blocks.</summary>
    Admission Submit(GenerationRequest request);

    /// <summary>Stops admitting and completes when every admitted request has finished (or <paramref name="cancellationToken"/>
    /// fires, after which the remaining ones are cancelled).</summary>
    Task DrainAsync(CancellationToken cancellationToken);
}
