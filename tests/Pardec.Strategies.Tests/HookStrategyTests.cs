using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Xunit;

namespace Pardec.Strategies.Tests;

/// <summary>
/// A stateful C# hook, declared as a nested type: the generated decoder keeps one instance, resets it with the prompt,
/// asks it for a chain each step and tells it how many tokens were accepted — and greedy verification keeps the
/// output exactly plain greedy whatever it proposes.
/// </summary>
[Strategy(Guarantee.Lossless, Stop = "eos, max_tokens")]
[Step("propose lookup(max_ngram: 2, length: 4)", "verify target", "accept greedy")]
public sealed partial class RunAfterAcceptance
{
    [Model(ModelKind.Causal)]
    public static partial string Target { get; }

    /// <summary>Repeats the last token, longer after a step that accepted something (a run is likely going on).</summary>
    [Propose(MaxLength = 3)]
    internal sealed class RunGuess
    {
        public static int Resets, Observations;
        private int _accepted;

        public void Reset(ReadOnlySpan<int> prompt) { _accepted = 0; Resets++; }

        public int Propose(ReadOnlySpan<int> context, Span<int> draft)
        {
            int length = _accepted > 0 ? draft.Length : 1;
            draft.Slice(0, length).Fill(context[^1]);
            return length;
        }

        public void Observe(ReadOnlySpan<int> context, int accepted) { _accepted = accepted; Observations++; }
    }
}

public sealed class HookStrategyTests
{
    [Fact]
    public void A_stateful_hook_type_is_reset_per_decode_observed_per_step_and_stays_lossless()
    {
        using var target = TinyModels.Create(seed: 31);
        var models = new ModelSet().Add(RunAfterAcceptance.Target, target);
        using var hooked = new RunAfterAcceptanceDecoder(target, maxLength: 128);
        using var greedy = GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models, null, 128);
        var options = new GenerationOptions { MaxNewTokens = 30 };
        int resets = RunAfterAcceptance.RunGuess.Resets, observations = RunAfterAcceptance.RunGuess.Observations;
        foreach (int[] prompt in new[] { new[] { 0, 4, 4, 4, 4 }, new[] { 0, 9, 3 } })
        {
            var result = hooked.Generate(prompt, options);
            Assert.Equal(greedy.Generate(prompt, options).Tokens, result.Tokens);
        }
        Assert.Equal(resets + 2, RunAfterAcceptance.RunGuess.Resets);
        Assert.True(RunAfterAcceptance.RunGuess.Observations > observations);
    }
}
