namespace Pardec.Server.Generation;

/// <summary>
/// The bounded first-come-first-served queue in front of an engine. Admission never blocks: a full queue is the
/// caller's 429. Engines take requests only at step boundaries (or when a decoder is free).
/// </summary>
internal sealed class RequestQueue(int capacity)
{
    private readonly Queue<GenerationRequest> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private bool _draining;

    public int Count { get { lock (_queue) return _queue.Count; } }
    public bool IsDraining { get { lock (_queue) return _draining; } }

    public Admission Submit(GenerationRequest request)
    {
        lock (_queue)
        {
            if (_draining) return Admission.Draining;
            if (_queue.Count >= capacity) return Admission.QueueFull;
            _queue.Enqueue(request);
        }
        _signal.Release();
        return Admission.Accepted;
    }

    public bool TryTake(out GenerationRequest request)
    {
        lock (_queue)
        {
            if (_queue.Count > 0) { request = _queue.Dequeue(); return true; }
        }
        request = null!;
        return false;
    }

    /// <summary>Waits until a request may be waiting (or the timeout passes).</summary>
    public bool Wait(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try { return _signal.Wait(timeout, cancellationToken); }
        catch (OperationCanceledException) { return false; }
    }

    /// <summary>Wakes a waiting engine thread (new work, or time to stop).</summary>
    public void Wake() => _signal.Release();

    public void StopAdmitting()
    {
        lock (_queue) _draining = true;
        _signal.Release();
    }
}
