using Pardec.Dsl;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Models;
using Xunit;

namespace Pardec.Strategies.Tests;

/// <summary>
/// Staged speculative decoding ("Accelerating LLM Inference with Staged Speculative Decoding"): a strategy drives another
/// strategy's draft. Every composition must equal plain greedy decoding in both engines; with a greedy engine the draft
/// is the draft model's own greedy chain, so the target sees exactly what plain speculative decoding shows it.
/// </summary>
public sealed class StagedSpeculativeTests : IClassFixture<StagedSpeculativeTests.Models>
{
    private static readonly int[][] Prompts =
        [[0, 5, 17, 5, 17, 33, 5, 17], [0, 42], [0, 7, 8, 9, 10, 11, 12, 7, 8, 9], [0, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3]];
    private const int MaxNew = 40;
    private const int MaxLength = 160;
    private readonly Models _models;

    public StagedSpeculativeTests(Models models) => _models = models;

    public sealed class Models : IDisposable
    {
        public readonly CausalLMBase Target = TinyModels.Create(seed: 31, layers: 2);
        public readonly CausalLMBase Draft = TinyModels.Create(seed: 32, layers: 1);
        public readonly CausalLMBase Tiny = TinyModels.Create(seed: 33, layers: 1, std: 0.3);
        public ModelSet Set => new ModelSet().Add("target", Target).Add("draft", Draft).Add("tiny", Tiny);

        public void Dispose() { Target.Dispose(); Draft.Dispose(); Tiny.Dispose(); }
    }

    private IDecoder Library(string name) => GeneratedStrategies.All.Single(s => s.Name == name).Create(_models.Set, null, MaxLength);

    // Plain speculative decoding with StagedSpeculative's fixed draft length (the library's SpeculativeGreedy prices its
    // length with cost_aware, so its steps are not the staged strategy's).
    internal const string FixedSpeculative = """
        strategy FixedSpeculative
          guarantee lossless
          canvas causal
          model target: causal
          model draft: causal
          param gamma: int = 4 in 1..16
          step
            propose draft(draft, length: gamma)
            verify target
            accept greedy
          stop eos, max_tokens
        end
        """;

    [Fact]
    public void A_greedy_engine_drafts_the_draft_models_greedy_chain()
    {
        using var plain = PlanInterpreter.Create(EngineEquivalenceTests.Parse(FixedSpeculative), _models.Set, null, MaxLength);
        using var staged = Library("StagedSpeculative");
        int plainDraft = 0, stagedDraft = 0;
        foreach (var prompt in Prompts)
        {
            var options = new GenerationOptions { MaxNewTokens = MaxNew };
            var a = plain.Generate(prompt, options);
            var b = staged.Generate(prompt, options);
            Assert.Equal(a.Tokens, b.Tokens);
            // The same drafts reach the target: the same steps, the same target forwards. Random models never repeat
            // themselves, so lookup finds nothing to copy: a draft forward per token, as plain drafting, and the prompt's.
            Assert.Equal(a.Stats.Steps, b.Stats.Steps);
            Assert.Equal(a.Stats.TargetForwards, b.Stats.TargetForwards);
            plainDraft += a.Stats.DraftForwards;
            stagedDraft += b.Stats.DraftForwards;
        }
        Assert.True(stagedDraft <= plainDraft + Prompts.Length, $"staged {stagedDraft} draft forwards, plain {plainDraft}");
    }

    public static TheoryData<string> Families => ["english", "code"];

    [Theory, MemberData(nameof(Families))]
    public void On_the_shipped_models_staged_drafting_equals_greedy_and_saves_draft_forwards(string family)
    {
        string root = Path.Combine(EngineEquivalenceTests.RepoRoot(), "models", family);
        using var target = Runtime.Loading.PretrainedModel.Load(Path.Combine(root, "target"), TorchSharp.torch.CPU, TorchSharp.torch.ScalarType.Float32, requireTokenizer: true);
        using var draft = Runtime.Loading.PretrainedModel.Load(Path.Combine(root, "draft"), TorchSharp.torch.CPU, TorchSharp.torch.ScalarType.Float32);
        var models = new ModelSet().Add("target", target.Model).Add("draft", draft.Model);
        var prompts = File.ReadLines(Path.Combine(EngineEquivalenceTests.RepoRoot(), "models", "eval", "prompts." + family + ".jsonl")).Take(3)
            .Select(l => target.Tokenizer!.Encode(System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!, addBos: true))
            .Select(p => p.Length > 80 ? p[^80..] : p).ToArray();
        var options = new GenerationOptions { MaxNewTokens = 48, StopOnEos = false };
        using var greedy = GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models, null, 256);
        using var plain = PlanInterpreter.Create(EngineEquivalenceTests.Parse(FixedSpeculative), models, null, 256);
        using var staged = GeneratedStrategies.All.Single(s => s.Name == "StagedSpeculative").Create(models, null, 256);
        using var interpreted = PlanInterpreter.Create(EngineEquivalenceTests.Parse(GeneratedStrategies.All.Single(s => s.Name == "StagedSpeculative").Plan), models, null, 256);
        int plainDraft = 0, stagedDraft = 0;
        foreach (var prompt in prompts)
        {
            var expected = greedy.Generate(prompt, options).Tokens;
            var a = plain.Generate(prompt, options);
            var b = staged.Generate(prompt, options);
            Assert.Equal(expected, b.Tokens);
            Assert.Equal(expected, interpreted.Generate(prompt, options).Tokens);
            Assert.Equal(a.Stats.Steps, b.Stats.Steps);
            plainDraft += a.Stats.DraftForwards;
            stagedDraft += b.Stats.DraftForwards;
        }
        // Trained models repeat themselves, and the draft model's repeats are what lookup copies.
        Assert.True(stagedDraft < plainDraft, $"{family}: staged drafting took {stagedDraft} draft forwards, plain {plainDraft}");
    }

    public static TheoryData<string> Composed() => ["ThreeStage", "StagedLossyEngine", "StagedPool"];

    [Theory]
    [MemberData(nameof(Composed))]
    public void Composed_staged_strategies_equal_greedy_in_both_engines_greedy_and_sampled(string name)
    {
        var type = typeof(StagedSpeculativeTests).Assembly.GetType("Pardec.Strategies.Tests.Composed." + name + "Decoder")!;
        string text = (string)type.GetField("Plan")!.GetRawConstantValue()!;
        var create = type.GetMethod("Create")!;
        using var generated = (IDecoder)create.Invoke(null, [_models.Set, null, MaxLength])!;
        using var interpreted = PlanInterpreter.Create(PdecCompiler.Compile(text).Plans[0], _models.Set, null, MaxLength);
        using var greedy = Library("Greedy");
        foreach (var prompt in Prompts)
        {
            var options = new GenerationOptions { MaxNewTokens = MaxNew };
            var expected = greedy.Generate(prompt, options).Tokens;
            Assert.Equal(expected, generated.Generate(prompt, options).Tokens);
            Assert.Equal(expected, interpreted.Generate(prompt, options).Tokens);
            var sampled = new GenerationOptions { MaxNewTokens = MaxNew, Temperature = 0.8, Seed = 5 };
            var a = generated.Generate(prompt, sampled);
            var b = interpreted.Generate(prompt, sampled);
            Assert.Equal(b.Tokens, a.Tokens);
            Assert.Equal(b.Stats.Steps, a.Stats.Steps);
        }
    }
}
