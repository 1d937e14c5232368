using System.Diagnostics;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Models;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>
/// The "preserves distribution" entries of the guarantee soundness table (docs/language.md): every proposer, state and
/// acceptance rule marked so keeps the target's sampling distribution. Each library strategy below runs as its
/// generated decoder many times with independent seeds at temperature T; the empirical law of its first two tokens must
/// fit the target's exact law (Pearson's χ², p &gt; 0.001), and must not fit the draft's — the control that shows the
/// test can tell a wrong sampler from a right one. Vocabulary 8 (64 joint cells), no end token; models are memoised
/// where the strategy reads only logits, so each run costs the primitives' own work.
/// </summary>
public sealed class GuaranteeAuditTests(ITestOutputHelper output)
{
    private const int Vocab = 8;
    private const double Temperature = 1.0; // the library's rejection strategies set temperature 1 through their own param
    private const int Samples = 3000;
    private const double Alpha = 0.001;

    private static CausalLMBase Model(long seed, int layers, double std) => ExactLaw.RandomModel(seed, layers, Vocab, std);

    private static double[] ExactJoint(ICausalLM model) => ExactLaw.TwoTokenJoint(model, Vocab, Temperature);

    /// <summary>Strategy, and whether its models can be memoised (no hidden states, no layer skip).</summary>
    public static TheoryData<string, bool> Strategies => new()
    {
        { "Sampling", true },            // accept rejection with nothing proposed
        { "SpeculativeSampling", true }, // draft(sample) + accept rejection
        { "SpeculativeGreedy", true },   // draft + accept greedy
        { "SpeculativeAdaptive", true }, // adaptive_length state, stop_below
        { "StagedSpeculative", true },   // draft(engine: ...)
        { "DraftTree", true },           // draft_tree
        { "Jacobi", true },              // jacobi
        { "Lookahead", true },           // jacobi + pool.match + ngram_pool from jacobi and context
        { "PromptLookup", true },        // lookup
        { "SelfSpeculative", false },    // self_draft (layer skip)
        { "MedusaTree", false },         // heads (hidden states)
    };

    [Theory, MemberData(nameof(Strategies))]
    public void Greedy_and_rejection_acceptance_keep_the_target_distribution(string name, bool memoise)
    {
        torch.set_num_threads(1);
        using var target = Model(21, layers: 4, std: 0.3);
        using var draft = Model(22, layers: 1, std: 0.3);
        using var heads = new MedusaHeads(4, 16, Vocab, sharedLmHead: true);
        using (no_grad())
        {
            var generator = new torch.Generator(23);
            foreach (var (_, w) in heads.named_parameters()) w.normal_(0, 0.3, generator);
        }
        heads.eval();
        var exact = ExactJoint(target);
        var wrong = ExactJoint(draft);
        using var memoTarget = new MemoizedModel(target);
        using var memoDraft = new MemoizedModel(draft);
        var models = new ModelSet().Add("target", memoise ? memoTarget : target).Add("draft", memoise ? memoDraft : draft).Add("heads", heads);
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        var plan = EngineEquivalenceTests.Parse(strategy.Plan);
        Assert.NotEqual(Pardec.Dsl.Plan.Guarantee.None, plan.Guarantee);

        var clock = Stopwatch.StartNew();
        var counts = new long[Vocab * Vocab];
        using (var decoder = strategy.Create(models, null, 64))
        {
            for (int s = 0; s < Samples; s++)
            {
                var tokens = decoder.Generate([0], new GenerationOptions { MaxNewTokens = 2, Temperature = Temperature, Seed = 5_000_000 + s }).Tokens;
                counts[tokens[0] * Vocab + tokens[1]]++;
            }
        }
        var (chi, dof) = ChiSquare.GoodnessOfFit(counts, exact, Samples);
        double p = ChiSquare.SurvivalFunction(chi, dof);
        var (control, controlDof) = ChiSquare.GoodnessOfFit(counts, wrong, Samples);
        double critical = ChiSquare.CriticalValue(controlDof, Alpha);
        output.WriteLine($"{name}: χ² = {chi:F2}, dof {dof}, p = {p:G4}; against the draft's law χ² = {control:F1} (critical {critical:F1}); {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(dof >= 20, $"only {dof} dof: the target law is too peaked to test");
        Assert.True(p > Alpha, $"{name}: χ² = {chi:F2} with {dof} dof, p = {p:G4}");
        Assert.True(control > critical, $"{name}: the draft's law fits too (χ² = {control:F1} <= {critical:F1}): the test has no power");
    }
}
