using Pardec.Dsl;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Models;
using Pardec.Strategies;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

public enum Engine { Interpreted, Generated }

/// <summary>
/// One corpus, every engine (the Regex generator's pattern): each library strategy runs through its generated decoder
/// and through the plan interpreter on the same seeded models and prompts; the tokens must be identical. Strategies
/// that claim <c>guarantee lossless</c> must also reproduce plain greedy decoding token for token.
/// </summary>
public sealed class EngineEquivalenceTests : IClassFixture<EngineEquivalenceTests.Models>
{
    private static readonly int[][] Prompts = [[0, 5, 17, 5, 17, 33, 5, 17], [0, 42], [0, 7, 8, 9, 10, 11, 12, 7, 8, 9]];
    private const int MaxNew = 40;
    private const int MaxLength = 160;


    private readonly Models _models;

    public EngineEquivalenceTests(Models models) => _models = models;

    public sealed class Models : IDisposable
    {
        public readonly CausalLMBase Target = TinyModels.Create(seed: 11, layers: 4); // SelfSpeculative skips layers 2..3
        public readonly CausalLMBase Draft = TinyModels.Create(seed: 12, layers: 1);
        public readonly MedusaHeads Heads;
        public readonly CausalLMBase Masked = CausalLM.CreateRandom(TinyModels.Config(layers: 2) with { MaskTokenId = 95 }, CPU, ScalarType.Float32, 14, 0.2);
        /// <summary>A block-causal denoiser (Fast-dLLM v2's kind: blocks of 32, shifted) for the strategies that declare one.</summary>
        public readonly CausalLMBase BlockCausal = CausalLM.CreateRandom(TinyModels.Config(layers: 2) with { MaskTokenId = 95, DenoiserBlock = 32, ShiftedLogits = true }, CPU, ScalarType.Float32, 15, 0.2);
        public readonly ModelSet Set;
        public readonly ModelSet BlockCausalSet;

        public Models()
        {
            Heads = new MedusaHeads(4, Target.Config.HiddenSize, Target.Config.VocabSize, sharedLmHead: true);
            using (torch.no_grad())
            {
                var generator = new torch.Generator(13);
                foreach (var (_, p) in Heads.named_parameters()) p.normal_(0, 0.2, generator);
            }
            Heads.eval();
            Set = new ModelSet().Add("target", Target).Add("draft", Draft).Add("heads", Heads).Add("model", Masked);
            BlockCausalSet = new ModelSet().Add("model", BlockCausal);
        }

        /// <summary>The models a plan runs on: the block-causal denoiser when its masked model is declared one.</summary>
        public ModelSet For(DecodePlan plan) => plan.Models.Any(m => m.Denoiser?.BlockCausal is not null) ? BlockCausalSet : Set;

        public void Dispose() { Target.Dispose(); Draft.Dispose(); Heads.Dispose(); Masked.Dispose(); BlockCausal.Dispose(); }
    }

    public static TheoryData<string> CausalStrategies()
    {
        var data = new TheoryData<string>();
        foreach (var s in GeneratedStrategies.All)
        {
            var plan = Parse(s.Plan);
            if (plan.Canvas.Kind == CanvasKind.Causal && plan.Canvas.Batch is null) data.Add(s.Name);
        }
        return data;
    }

    public static TheoryData<string> MaskedStrategies()
    {
        var data = new TheoryData<string>();
        foreach (var s in GeneratedStrategies.All)
            if (Parse(s.Plan).Canvas.Kind == CanvasKind.Masked) data.Add(s.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(MaskedStrategies))]
    public void Generated_and_interpreted_masked_decoders_give_identical_tokens(string name)
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        var plan = Parse(strategy.Plan);
        using var generated = strategy.Create(_models.For(plan), null, MaxLength);
        using var interpreted = PlanInterpreter.Create(plan, _models.For(plan), null, MaxLength);
        var options = new List<GenerationOptions> { new() { MaxNewTokens = MaxNew } };
        if (plan.Step is MaskedStepPlan { Commit: not (Dsl.Plan.DraftVerifyCommitPlan or Dsl.Plan.VerifyTreeCommitPlan) }) // the verification rules are defined for greedy decoding
            options.Add(new GenerationOptions { MaxNewTokens = MaxNew, Temperature = 0.8, Seed = 3 });
        foreach (var prompt in Prompts)
            foreach (var o in options)
            {
                var a = generated.Generate(prompt, o);
                var b = interpreted.Generate(prompt, o);
                Assert.Equal(b.Tokens, a.Tokens);
                Assert.Equal(b.Stats.Steps, a.Stats.Steps);
            }
    }

    [Fact]
    public void Masked_draft_and_verify_reproduces_one_token_per_step_decoding_in_fewer_steps()
    {
        using var reference = GeneratedStrategies.All.Single(s => s.Name == "LladaOneByOne").Create(_models.Set, null, MaxLength);
        using var lossless = GeneratedStrategies.All.Single(s => s.Name == "DllmDraftVerify").Create(_models.Set, null, MaxLength);
        int referenceSteps = 0, losslessSteps = 0;
        foreach (var prompt in Prompts)
        {
            var options = new GenerationOptions { MaxNewTokens = MaxNew };
            var a = reference.Generate(prompt, options);
            var b = lossless.Generate(prompt, options);
            Assert.Equal(a.Tokens, b.Tokens);
            referenceSteps += a.Stats.Steps;
            losslessSteps += b.Stats.Steps;
        }
        Assert.True(losslessSteps <= referenceSteps, $"draft-and-verify took {losslessSteps} steps, one-by-one {referenceSteps}");
    }

    [Fact]
    public void Batched_speculative_decoding_gives_every_row_its_own_greedy_output_in_both_engines()
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == "BatchedSpeculative");
        using var generated = (IBatchDecoder)strategy.Create(_models.Set, null, MaxLength);
        using var interpreted = (IBatchDecoder)PlanInterpreter.Create(Parse(strategy.Plan), _models.Set, null, MaxLength);
        using var reference = GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(_models.Set, null, MaxLength);
        var options = new GenerationOptions { MaxNewTokens = MaxNew };
        var a = generated.GenerateBatch(Prompts, options);   // 3 prompts of different lengths in a batch of 8
        var b = interpreted.GenerateBatch(Prompts, options);
        for (int i = 0; i < Prompts.Length; i++)
        {
            Assert.Equal(reference.Generate(Prompts[i], options).Tokens, a[i].Tokens);
            Assert.Equal(a[i].Tokens, b[i].Tokens);
        }
    }

    [Fact]
    public void Overriding_a_build_time_draft_length_on_the_interpreter_verifies_the_whole_longer_draft()
    {
        var set = new ModelSet().Add("target", _models.Target).Add("draft", _models.Target); // the target drafts: all accepted
        using var decoder = PlanInterpreter.Create(Parse(StagedSpeculativeTests.FixedSpeculative), set, new Dictionary<string, string> { ["gamma"] = "8" }, MaxLength);
        var result = decoder.Generate(Prompts[0], new GenerationOptions { MaxNewTokens = 36, StopOnEos = false });
        Assert.Equal(36, result.Tokens.Count);
        Assert.Equal(4, result.Stats.Steps); // 8 drafted + 1 of the target's own per step, not 4 + 1
    }

    [Fact]
    public void The_library_compiles_every_strategy_file_into_the_registry()
    {
        var files = Directory.GetFiles(Path.Combine(RepoRoot(), "strategies"), "*.pdec");
        int declared = files.Sum(f => PdecCompiler.Compile(File.ReadAllText(f), f).Plans.Count);
        Assert.Equal(declared, GeneratedStrategies.All.Count);
    }

    [Theory]
    [MemberData(nameof(CausalStrategies))]
    public void Generated_and_interpreted_engines_give_identical_tokens(string name)
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        var plan = Parse(strategy.Plan);
        var greedy = new GenerationOptions { MaxNewTokens = MaxNew, Temperature = 0 };
        var sampled = new GenerationOptions { MaxNewTokens = MaxNew, Temperature = 0.8, Seed = 7 };
        using var generated = strategy.Create(_models.Set, null, MaxLength);
        using var interpreted = PlanInterpreter.Create(plan, _models.Set, null, MaxLength);
        foreach (var prompt in Prompts)
        {
            foreach (var options in new[] { greedy, sampled })
            {
                var a = generated.Generate(prompt, options);
                var b = interpreted.Generate(prompt, options);
                Assert.Equal(b.Tokens, a.Tokens);
                Assert.Equal(b.Stats.Steps, a.Stats.Steps);
            }
        }
    }

    [Theory]
    [MemberData(nameof(CausalStrategies))]
    public void Lossless_strategies_reproduce_plain_greedy_decoding(string name)
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        var plan = Parse(strategy.Plan);
        if (plan.Guarantee != Pardec.Dsl.Plan.Guarantee.Lossless) return; // lossy by declaration; the binder rejects 'lossless' on it
        using var reference = GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(_models.Set, null, MaxLength);
        using var decoder = strategy.Create(_models.Set, null, MaxLength);
        foreach (var prompt in Prompts)
        {
            var options = new GenerationOptions { MaxNewTokens = MaxNew };
            Assert.Equal(reference.Generate(prompt, options).Tokens, decoder.Generate(prompt, options).Tokens);
        }
    }

    internal static DecodePlan Parse(string text) => PdecCompiler.Compile(text).Plans[0]; // a composed plan prints its engines after it

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("Dsl.sln not found above " + AppContext.BaseDirectory);
    }
}
