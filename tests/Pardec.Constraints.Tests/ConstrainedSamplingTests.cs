using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Strategies;
using Pardec.Strategies.Tests;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pardec.Constraints.Tests;

/// <summary>
/// Speculative sampling under a constraint has the distribution of constrained sampling: with the target's p masked
/// and the draft's q drawn (and kept) under the same mask, rejection sampling commits each token with probability
/// p(t) / Σ_allowed p. Checked by a chi-square goodness-of-fit against the exact distribution over every output of a
/// small language, computed from the target's own logits.
/// </summary>
public sealed class ConstrainedSamplingTests(ShippedModels models, ITestOutputHelper output) : IClassFixture<ShippedModels>
{
    [Fact]
    public void Speculative_sampling_under_a_constraint_has_the_constrained_sampling_distribution()
    {
        var matcher = TokenConstraint.FromRegex("[a-e][a-e]").For(Shipped.Vocabulary);
        int[] prompt = models.Prompts[0];
        var exact = ExactDistribution(prompt, matcher);
        output.WriteLine($"{exact.Count} outputs; most likely: {string.Join(", ", exact.OrderByDescending(e => e.Value).Take(5).Select(e => $"{e.Key} {e.Value:F3}"))}");
        Assert.True(exact.Count >= 10);
        Assert.Equal(1.0, exact.Values.Sum(), 6);

        using var decoder = GeneratedStrategies.All.Single(s => s.Name == "SpeculativeSampling").Create(models.Set, null, 256);
        const int Samples = 500;
        var counts = exact.Keys.ToDictionary(k => k, _ => 0L);
        long outside = 0;
        for (int i = 0; i < Samples; i++)
        {
            var result = decoder.Generate(prompt, new GenerationOptions { MaxNewTokens = 4, Temperature = 1, Seed = 1000 + i, Constraint = matcher });
            string key = string.Join(",", result.Tokens);
            if (counts.ContainsKey(key)) counts[key]++; else outside++;
        }
        Assert.Equal(0, outside); // every output is in the language, ended by its end token
        var keys = exact.Keys.ToArray();
        var (statistic, dof) = ChiSquare.GoodnessOfFit(keys.Select(k => counts[k]).ToArray(), keys.Select(k => exact[k]).ToArray(), Samples);
        double p = ChiSquare.SurvivalFunction(statistic, dof);
        output.WriteLine($"chi-square {statistic:F1} on {dof} dof, p = {p:F3}");
        Assert.True(p > 0.001, $"chi-square {statistic:F1} on {dof} dof (p = {p:G3}): speculative sampling under the mask is not constrained sampling");
    }

    // P(output) under constrained sampling at temperature 1: the product of masked softmaxes along each token path.
    private Dictionary<string, double> ExactDistribution(int[] prompt, TokenMatcher matcher)
    {
        var result = new Dictionary<string, double>();
        void Walk(List<int> tokens, int state, double probability)
        {
            var row = Probabilities(prompt.Concat(tokens).ToArray(), matcher, state);
            for (int t = 0; t < row.Length; t++)
            {
                if (row[t] == 0) continue;
                if (matcher.Vocabulary.IsEnd(t)) { result[string.Join(",", tokens)] = probability * row[t]; continue; }
                Walk([.. tokens, t], matcher.Next(state, t), probability * row[t]);
            }
        }
        Walk([], matcher.Start, 1.0);
        return result;
    }

    private double[] Probabilities(int[] sequence, TokenMatcher matcher, int state)
    {
        using var _ = torch.no_grad();
        using var scope = NewDisposeScope();
        int n = sequence.Length;
        var input = tensor(sequence.Select(t => (long)t).ToArray()).view(1, n);
        var positions = arange(n, dtype: ScalarType.Int64).view(1, n);
        var mask = ones(n, n, ScalarType.Bool).tril().view(1, 1, n, n);
        using var forward = models.Target.Model.Forward(input, positions, mask, null);
        var logits = forward.Logits[0, n - 1].to(ScalarType.Float64).data<double>().ToArray();
        double max = double.NegativeInfinity;
        for (int t = 0; t < logits.Length; t++) if (matcher.Allows(state, t)) max = Math.Max(max, logits[t]);
        var p = new double[logits.Length];
        double sum = 0;
        for (int t = 0; t < logits.Length; t++) if (matcher.Allows(state, t)) sum += p[t] = Math.Exp(logits[t] - max);
        for (int t = 0; t < p.Length; t++) p[t] /= sum;
        return p;
    }
}
