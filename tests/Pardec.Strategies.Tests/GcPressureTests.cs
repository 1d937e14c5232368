using Pardec.Runtime.Decoding;
using Pardec.Strategies;
using Xunit;

namespace Pardec.Strategies.Tests;

/// <summary>
/// Decoders on several threads while another thread forces collections and runs finalisers, as in a busy server.
/// TorchSharp turns a C# number into a temporary Scalar (and <c>a + b</c> passes a temporary alpha of 1) that nothing
/// references during the native call; a collection there frees the c10::Scalar under the op, which then fails with
/// "INTERNAL ASSERT FAILED at c10/core/Scalar.h" or computes with garbage. The runtime passes rooted Scalars
/// (see <c>Pardec.Runtime.Models.Scalars</c>); this test fails within a few rounds when a hot path regresses.
/// </summary>
public sealed class GcPressureTests(EngineEquivalenceTests.Models models) : IClassFixture<EngineEquivalenceTests.Models>
{
    private static readonly int[] Prompt = [0, 5, 17, 5, 17, 33, 5, 17];

    [Theory]
    [InlineData("SpeculativeGreedy", 0.0)]
    [InlineData("MedusaTypical", 0.0)]
    [InlineData("DraftTree", 0.0)]
    [InlineData("SpeculativeSampling", 0.8)]
    public async Task Parallel_decodes_under_forced_collections_match_a_quiet_decode(string name, double temperature)
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        var options = new GenerationOptions { MaxNewTokens = 48, StopOnEos = false, Temperature = temperature, Seed = 9 };
        int[] expected;
        using (var quiet = strategy.Create(models.Set, null, 128)) expected = quiet.Generate(Prompt, options).Tokens.ToArray();

        using var stop = new CancellationTokenSource();
        var collector = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested) { GC.Collect(); GC.WaitForPendingFinalizers(); }
        });
        try
        {
            var decodes = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
            {
                using var decoder = strategy.Create(models.Set, null, 128);
                var outputs = new List<int[]>();
                for (int round = 0; round < 6; round++) outputs.Add(decoder.Generate(Prompt, options).Tokens.ToArray());
                return outputs;
            })).ToArray();
            foreach (var outputs in await Task.WhenAll(decodes))
                foreach (var output in outputs) Assert.Equal(expected, output);
        }
        finally
        {
            await stop.CancelAsync();
            await collector;
        }
    }
}
