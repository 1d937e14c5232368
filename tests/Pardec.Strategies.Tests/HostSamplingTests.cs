using Pardec.Runtime.Primitives;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>
/// On the CPU, sampling runs on the host (no tensor op per step). Its filtered distribution must be the device path's
/// (<see cref="NodeSampler.Probabilities"/>: temperature, top-k, top-p), its draws must follow the distribution, and a
/// seed must replay the same draws.
/// </summary>
public sealed class HostSamplingTests
{
    public static TheoryData<double, int, double> Settings => new()
    {
        { 1.0, 0, 1.0 },
        { 0.7, 0, 1.0 },
        { 0.8, 5, 1.0 },
        { 1.2, 0, 0.9 },
        { 0.9, 12, 0.75 },
        { 0.5, 1, 1.0 },
        { 1.0, 0, 0.05 },  // nucleus smaller than the top token: the top token alone
    };

    [Theory, MemberData(nameof(Settings))]
    public void The_host_distribution_is_the_device_one(double temperature, int topK, double topP)
    {
        using var scope = NewDisposeScope();
        using var sampler = new NodeSampler(4);
        sampler.Configure(new SamplingSettings(temperature, topK, topP, Seed: 3));
        var logits = randn(new long[] { 4, 50 }, generator: new Generator(17)) * 3;
        // A tie at the top: both stay under top-k on either path (the device's unstable sort orders ties arbitrarily,
        // so a nucleus cut between them is only compared without ties).
        if (topP == 1.0) logits[1, 7] = logits[1].max();
        var device = sampler.Probabilities(logits);
        var rows = logits.data<float>().ToArray();
        for (int r = 0; r < 4; r++)
        {
            var host = sampler.RowProbabilities(rows.AsSpan(r * 50, 50)).ToArray();
            var expected = device[r].data<float>().ToArray();
            for (int v = 0; v < 50; v++)
                Assert.True(Math.Abs(host[v] - expected[v]) <= 1e-6 + 1e-5 * expected[v],
                    $"row {r}, token {v}: host {host[v]}, device {expected[v]} (T {temperature}, top-k {topK}, top-p {topP})");
        }
    }

    [Fact]
    public void Draws_follow_the_weights_and_a_seed_replays_them()
    {
        float[] weights = [0f, 0.5f, 0f, 1.5f, 2f, 0f]; // unnormalised; zero weights are never drawn
        using var sampler = new NodeSampler(1);
        sampler.Configure(new SamplingSettings(1.0, Seed: 11));
        var counts = new int[weights.Length];
        var first = new int[200];
        const int draws = 40_000;
        for (int i = 0; i < draws; i++)
        {
            int pick = NodeSampler.Draw(weights, sampler.NextUniform());
            counts[pick]++;
            if (i < first.Length) first[i] = pick;
        }
        Assert.Equal(0, counts[0] + counts[2] + counts[5]);
        double statistic = 0;
        foreach (int v in new[] { 1, 3, 4 })
        {
            double expected = draws * weights[v] / 4.0;
            statistic += (counts[v] - expected) * (counts[v] - expected) / expected;
        }
        Assert.True(statistic < ChiSquare.CriticalValue(2, 0.001), $"chi-square {statistic:F2} over 2 degrees of freedom");

        sampler.Configure(new SamplingSettings(1.0, Seed: 11));
        for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], NodeSampler.Draw(weights, sampler.NextUniform()));
        sampler.Configure(new SamplingSettings(1.0, Seed: 12));
        Assert.NotEqual(first, Enumerable.Range(0, first.Length).Select(_ => NodeSampler.Draw(weights, sampler.NextUniform())).ToArray());
    }
}
