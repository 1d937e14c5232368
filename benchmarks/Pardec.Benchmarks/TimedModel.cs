using System.Diagnostics;
using Pardec.Runtime.Models;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

/// <summary>
/// Wraps a model and accumulates the wall time of its forwards, so a benchmark can split a step into model time and
/// host overhead (everything the decode loop does around the forwards). On the CPU every op is synchronous, so the
/// wall time of <see cref="Forward"/> is the model's cost.
/// </summary>
public sealed class TimedModel(ICausalLM inner) : ICausalLM
{
    private long _ticks;
    private long _bytes;

    public TimeSpan ForwardTime => TimeSpan.FromTicks(_ticks * TimeSpan.TicksPerSecond / Stopwatch.Frequency);
    public int Forwards { get; private set; }

    /// <summary>Managed bytes allocated on this thread inside the model's forwards (TorchSharp's per-op handles), so
    /// a benchmark can tell the decode loop's own allocation from the model's.</summary>
    public long ForwardBytes => _bytes;
    public void ResetTimer() { _ticks = 0; _bytes = 0; Forwards = 0; }

    public ModelConfig Config => inner.Config;
    public Tensor? OutputWeight => inner.OutputWeight;
    public Device Device => inner.Device;
    public ScalarType DType => inner.DType;
    public KVCache CreateCache(int batch, int maxLength) => inner.CreateCache(batch, maxLength);

    public ModelOutput Forward(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, bool returnHidden = false, LayerSkip? skip = null)
    {
        long bytes = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        try { return inner.Forward(tokens, positions, attentionMask, cache, returnHidden, skip); }
        finally { _ticks += Stopwatch.GetTimestamp() - start; _bytes += GC.GetAllocatedBytesForCurrentThread() - bytes; Forwards++; }
    }

    public ModelOutput ForwardInto(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, ForwardOutputs into,
                                   bool returnHidden = false, LayerSkip? skip = null)
    {
        long bytes = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        try { return inner.ForwardInto(tokens, positions, attentionMask, cache, into, returnHidden, skip); }
        finally { _ticks += Stopwatch.GetTimestamp() - start; _bytes += GC.GetAllocatedBytesForCurrentThread() - bytes; Forwards++; }
    }

    // Only Medusa heads project hidden states, and MedusaHeads times its whole call (the shared LM head included):
    // counting it here too would count it twice.
    public Tensor LogitsFromHidden(Tensor hidden) => inner.LogitsFromHidden(hidden);

    public void Dispose() { }
}
