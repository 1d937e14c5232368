using Pardec.Runtime.Decoding;
using Xunit;

namespace Pardec.Strategies.Tests;

/// <summary>
/// Managed bytes a decode allocates per step, with what is paid once per decode cancelled out: a short and a long
/// decode of the same prompt (both warmed first: JIT, lazily made views, masks of the states they reach), the
/// difference of their allocations over the difference of their steps.
/// </summary>
internal static class StepAllocation
{
    public static (double BytesPerStep, DecodeResult Short, DecodeResult Long) Measure(
        IDecoder decoder, ReadOnlySpan<int> prompt, GenerationOptions options, int longTokens)
    {
        var longOptions = options with { MaxNewTokens = longTokens };
        decoder.Generate(prompt, options);
        decoder.Generate(prompt, longOptions);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var shortRun = decoder.Generate(prompt, options);
        long shortBytes = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        var longRun = decoder.Generate(prompt, longOptions);
        long longBytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(longRun.Stats.Steps > shortRun.Stats.Steps,
                    $"{longRun.Stats.Steps} vs {shortRun.Stats.Steps} steps ({longRun.StopReason})");
        return ((longBytes - shortBytes) / (double)(longRun.Stats.Steps - shortRun.Stats.Steps), shortRun, longRun);
    }
}
