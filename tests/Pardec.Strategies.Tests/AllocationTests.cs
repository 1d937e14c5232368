using Pardec.Runtime.Decoding;
using Pardec.Strategies;
using Xunit;
using Xunit.Abstractions;

namespace Pardec.Strategies.Tests;

/// <summary>
/// What a generated decoder allocates per step, model forwards included. Two decodes of the same prompt that differ
/// only in length share every per-call cost (prompt tensors, result arrays sized by the budget), so their difference
/// over their difference in steps is what the loop allocates per step.
/// </summary>
public sealed class AllocationTests(EngineEquivalenceTests.Models models, ITestOutputHelper output) : IClassFixture<EngineEquivalenceTests.Models>
{
    private static readonly int[] Prompt = [0, 5, 17, 5, 17, 33, 5, 17, 5, 17, 33, 5];

    /// <summary>
    /// Every causal strategy — chains, n-gram, draft-model and Medusa trees — on the compiled Llama forward, greedy and
    /// sampled: the whole step (proposals, the draft's and the target's forwards, acceptance, commit) allocates no
    /// managed memory. Forwards write into the loop's preallocated outputs through the native script call; proposers
    /// and acceptance rules read CPU logits in place (top-k, sampling and rejection on the host); a tree path's keys are
    /// compacted in place; n-gram pools are flat arrays; every view is made once per width. The bound allows the token
    /// list's amortised growth (a few bytes per step); one TorchSharp handle per step (~100 B) fails it.
    /// </summary>
    [Theory]
    [MemberData(nameof(EngineEquivalenceTests.CausalStrategies), MemberType = typeof(EngineEquivalenceTests))]
    public void A_loop_allocates_nothing_per_step_with_its_forwards(string name)
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        using var decoder = strategy.Create(models.Set, null, 160);
        foreach (double temperature in new[] { 0, 0.8 })
        {
            var options = new GenerationOptions { MaxNewTokens = 24, StopOnEos = false, Temperature = temperature, Seed = 5 };
            var (perStep, shortRun, longRun) = StepAllocation.Measure(decoder, Prompt, options, longTokens: 96);
            output.WriteLine($"{name} (temperature {temperature}): {perStep:F1} B/step with forwards ({shortRun.Stats.Steps} vs {longRun.Stats.Steps} steps)");
            Assert.True(perStep <= 32, $"{name}: {perStep:F0} B allocated per step at temperature {temperature}, forwards included");
        }
    }

    /// <summary>
    /// Batched speculative decoding on the CPU: rows of different lengths verified together, every row accepting its
    /// own length. The ragged caches' masks are written on the host, forwards go into preallocated outputs, argmaxes
    /// are read in place from the (strided) batch views: a step allocates nothing, forwards included.
    /// </summary>
    [Fact]
    public void A_batched_loop_allocates_nothing_per_step_with_its_forwards()
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == "BatchedSpeculative");
        using var decoder = (IBatchDecoder)strategy.Create(models.Set, null, 160);
        int[][] prompts = [Prompt, [0, 42], [0, 7, 8, 9, 10, 11, 12, 7, 8, 9]];
        var options = new GenerationOptions { MaxNewTokens = 24, StopOnEos = false };
        (long Bytes, int Steps) Run(int tokens)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var results = decoder.GenerateBatch(prompts, options with { MaxNewTokens = tokens });
            return (GC.GetAllocatedBytesForCurrentThread() - before, results.Max(r => r.Stats.Steps));
        }
        Run(24); Run(96); // warm
        var (shortBytes, shortSteps) = Run(24);
        var (longBytes, longSteps) = Run(96);
        double perStep = (longBytes - shortBytes) / (double)(longSteps - shortSteps);
        output.WriteLine($"BatchedSpeculative: {perStep:F1} B/step with forwards ({shortSteps} vs {longSteps} steps, {shortBytes} vs {longBytes} B)");
        Assert.True(longSteps > shortSteps);
        Assert.True(perStep <= 64, $"BatchedSpeculative: {perStep:F0} B allocated per step, forwards included");
    }
}
