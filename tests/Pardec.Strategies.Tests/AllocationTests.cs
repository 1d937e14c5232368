using Pardec.Dsl;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Models;
using Pardec.Strategies;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>
/// What a generated decoder allocates per step. Two decodes of the same prompt that differ only in length share every
/// per-call cost (prompt tensors, result arrays sized by the budget), so their difference over their difference in
/// steps is what the loop allocates per step. Our own buffers are sized once for the tree capacity and context; model
/// forwards write into preallocated outputs through a native script call, so on the compiled Llama forward a step —
/// forwards included — allocates nothing for chains, n-gram and draft trees, greedy or sampled (a few bytes per step
/// are the token list's amortised growth). Medusa heads still run eager ops (~3–6 KB per step); the first theory
/// bounds every causal strategy outside its forwards and catches per-node or per-token allocation creeping into a loop
/// (a LINQ query, a list, a closure per step). The strategy benchmark reports the measured bytes beside the model's own.
/// </summary>
public sealed class AllocationTests(EngineEquivalenceTests.Models models, ITestOutputHelper output) : IClassFixture<EngineEquivalenceTests.Models>
{
    private static readonly int[] Prompt = [0, 5, 17, 5, 17, 33, 5, 17, 5, 17, 33, 5];

    /// <summary>About 300 TorchSharp handles: twice the draft tree's ~16–18 KB per step.</summary>
    private const int MaxBytesPerStep = 36 * 1024;

    [Theory]
    [MemberData(nameof(EngineEquivalenceTests.CausalStrategies), MemberType = typeof(EngineEquivalenceTests))]
    public void A_generated_causal_loop_allocates_a_bounded_amount_per_step_outside_model_forwards(string name)
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        var counted = new ModelSet();
        foreach (var role in new[] { "target", "draft" }) counted.Add(role, new CountingModel(models.Set.Model(role)));
        counted.Add("heads", models.Heads);
        using var decoder = strategy.Create(counted, null, 160);
        var options = new GenerationOptions { MaxNewTokens = 96, StopOnEos = false, Temperature = 0.8, Seed = 5 };
        var greedy = options with { Temperature = 0 };
        foreach (var o in new[] { greedy, options })
        {
            var (shortBytes, shortSteps) = Measure(decoder, counted, o with { MaxNewTokens = 24 });
            var (longBytes, longSteps) = Measure(decoder, counted, o with { MaxNewTokens = 96 });
            Assert.True(longSteps > shortSteps, $"{name}: {longSteps} steps for 96 tokens, {shortSteps} for 24");
            double perStep = (longBytes - shortBytes) / (double)(longSteps - shortSteps);
            output.WriteLine($"{name} (temperature {o.Temperature}): {perStep:F0} B/step outside forwards ({shortSteps} vs {longSteps} steps)");
            Assert.True(perStep <= MaxBytesPerStep, $"{name}: the loop allocated {perStep:F0} B per step outside model forwards (temperature {o.Temperature})");
        }
    }

    /// <summary>
    /// Chains, n-gram trees and draft-model trees on a compiled Llama forward, greedy and sampled: the whole step —
    /// proposals, the draft's and the target's forwards, acceptance (rejection sampling included) and commit (a tree
    /// path's keys compacted in place) — allocates no managed memory. Sampling on the CPU draws on the host.
    /// Forwards write into the loop's preallocated outputs through the native script call, proposers and acceptance
    /// read logits in place (a draft tree's top-k is selected on the host), n-gram pools are flat arrays, and every view
    /// is made once per width. The
    /// bound allows the token list's amortised growth (a few bytes per step); one TorchSharp handle per step (~100 B)
    /// fails it.
    /// </summary>
    [Theory]
    [InlineData("Greedy")]
    [InlineData("SpeculativeGreedy")]
    [InlineData("SpeculativeAdaptive")]
    [InlineData("PromptLookup")]
    [InlineData("SelfSpeculative")]
    [InlineData("Jacobi")]
    [InlineData("GaussSeidelJacobi")]
    [InlineData("Lookahead")]
    [InlineData("AdaptiveNgram")]
    [InlineData("DraftTree")]
    [InlineData("SequoiaTree")]
    [InlineData("Sampling")]
    [InlineData("SpeculativeSampling")]
    public void A_loop_allocates_nothing_per_step_with_its_forwards(string name)
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        using var decoder = strategy.Create(models.Set, null, 160);
        foreach (double temperature in new[] { 0, 0.8 })
        {
            var options = new GenerationOptions { MaxNewTokens = 24, StopOnEos = false, Temperature = temperature, Seed = 5 };
            decoder.Generate(Prompt, options); // warm: JIT, lazily made views and scratch
            decoder.Generate(Prompt, options with { MaxNewTokens = 96 });
            long before = GC.GetAllocatedBytesForCurrentThread();
            var shortRun = decoder.Generate(Prompt, options);
            long shortBytes = GC.GetAllocatedBytesForCurrentThread() - before;
            before = GC.GetAllocatedBytesForCurrentThread();
            var longRun = decoder.Generate(Prompt, options with { MaxNewTokens = 96 });
            long longBytes = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(longRun.Stats.Steps > shortRun.Stats.Steps);
            double perStep = (longBytes - shortBytes) / (double)(longRun.Stats.Steps - shortRun.Stats.Steps);
            output.WriteLine($"{name} (temperature {temperature}): {perStep:F1} B/step with forwards ({shortRun.Stats.Steps} vs {longRun.Stats.Steps} steps)");
            Assert.True(perStep <= 32, $"{name}: {perStep:F0} B allocated per step at temperature {temperature}, forwards included");
        }
    }

    private static (long Bytes, int Steps) Measure(IDecoder decoder, ModelSet set, GenerationOptions options)
    {
        decoder.Generate(Prompt, options); // warm: JIT, lazily sized buffers
        long inside = Inside(set);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var result = decoder.Generate(Prompt, options);
        long total = GC.GetAllocatedBytesForCurrentThread() - before;
        return (total - (Inside(set) - inside), result.Stats.Steps);
    }

    private static long Inside(ModelSet set) => ((CountingModel)set.Model("target")).Bytes + ((CountingModel)set.Model("draft")).Bytes;

    /// <summary>Counts the managed bytes allocated on this thread inside the wrapped model's calls.</summary>
    private sealed class CountingModel(ICausalLM inner) : ICausalLM
    {
        public long Bytes { get; private set; }
        public ModelConfig Config => inner.Config;
        public Device Device => inner.Device;
        public ScalarType DType => inner.DType;
        public KVCache CreateCache(int batch, int maxLength) => inner.CreateCache(batch, maxLength);

        public ModelOutput Forward(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, bool returnHidden = false, LayerSkip? skip = null)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { return inner.Forward(tokens, positions, attentionMask, cache, returnHidden, skip); }
            finally { Bytes += GC.GetAllocatedBytesForCurrentThread() - before; }
        }

        public ModelOutput ForwardInto(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, ForwardOutputs into,
                                       bool returnHidden = false, LayerSkip? skip = null)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { return inner.ForwardInto(tokens, positions, attentionMask, cache, into, returnHidden, skip); }
            finally { Bytes += GC.GetAllocatedBytesForCurrentThread() - before; }
        }

        public Tensor LogitsFromHidden(Tensor hidden)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { return inner.LogitsFromHidden(hidden); }
            finally { Bytes += GC.GetAllocatedBytesForCurrentThread() - before; }
        }

        public void Dispose() { }
    }
}
