using System.Text;
using System.Text.Json.Nodes;
using Pardec.Dsl;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Masked;
using Pardec.Runtime.Masked.Commit;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests.RealLayouts;

/// <summary>
/// The diffusion cross-check against llama.cpp's diffusion sampler (issue 17, item 2): seeded checkpoints in LLaDA's
/// layout (<c>LLaDAModelLM</c>, f32) and Dream's (the Qwen2 layout, shifted logits, bf16 storage) —
/// tests/fixtures/peer-diffusion/&lt;family&gt;/checkpoint.json, regenerated here by <see cref="SeededCheckpoints"/> — must decode
/// the tokens llama.cpp's <c>diffusion_generate</c> (llama-diffusion-cli's sampler) decoded, greedy, confidence-based, with
/// a fixed number of steps per block, when Pardec runs strategies/llada.pdec's <c>Llada</c> strategy with the same
/// block and <c>k = block / steps</c> tokens per step. The references were made by
/// benchmarks/peer/make-diffusion-fixtures.py; this test needs no llama.cpp.
/// </summary>
/// <remarks>
/// How the two compute the same thing (tests/fixtures/peer-diffusion/README.md has the whole story): llama.cpp's greedy
/// (<c>--top-k 1</c>) gives every candidate confidence 1 (the probability after top-k truncation), so its order is by
/// position; the checkpoints' head is scaled (<c>lm_head_std</c> 1e6) so that the model's own probability of the argmax,
/// which Pardec ranks by, is 1.0 in float64 too, and both break the ties by the lower position. llama.cpp runs the whole
/// canvas every step, as the <c>Llada</c> strategy does (<c>cache none</c>). Prompts are whole blocks (llama.cpp's block
/// schedule needs (prompt + generation) % block == 0), and no reference commits an EOS (Pardec fills the rest of the
/// canvas after one; llama.cpp does not).
/// </remarks>
public sealed class DiffusionLayoutTests
{
    private readonly ITestOutputHelper _output;

    public DiffusionLayoutTests(ITestOutputHelper output)
    {
        Init();
        _output = output;
    }

    [Theory]
    [InlineData("llada")] // LLaDA-8B layout: LLaDAModelLM, model.transformer.blocks.N.*, mask 126336, f32
    [InlineData("dream")] // Dream-v0-7B layout: Qwen2 names and q/k/v bias, shifted logits, mask 151666, bf16 storage
    public void Llada_strategy_equals_llama_cpp_diffusion_token_for_token(string family)
    {
        using var scope = torch.NewDisposeScope();
        var reference = Reference(family);
        int generation = reference["generation"]!.GetValue<int>();
        using var dir = new TempDir();
        using var model = Load(family, dir.Path, ScalarType.Float32);
        var plan = LladaPlan();
        var failures = new StringBuilder();
        int compared = 0;
        foreach (var run in reference["runs"]!.AsArray())
        {
            int block = run!["block"]!.GetValue<int>(), k = run["tokens_per_step"]!.GetValue<int>();
            var parameters = new Dictionary<string, string> { ["block"] = block.ToString(), ["k"] = k.ToString() };
            foreach (var node in run["prompts"]!.AsArray())
            {
                using var promptScope = torch.NewDisposeScope();
                var prompt = node!.AsObject();
                string name = (string)prompt["name"]!;
                int[] ids = Ints(prompt["ids"]!), expected = Ints(prompt["tokens"]!);
                Assert.False(prompt["eos_in_output"]!.GetValue<bool>(), $"{family} {name}: the reference commits an EOS, which the engines treat differently");

                // 1. The strategy, as `pardec run` would interpret it.
                using var decoder = PlanInterpreter.Create(plan, new ModelSet().Add("model", model), parameters, ids.Length + generation);
                var actual = decoder.Generate(ids, new GenerationOptions { MaxNewTokens = generation, StopOnEos = false }).Tokens.ToArray();
                compared++;

                // 2. The canvas after every step (the session, step by step, with the strategy's rule).
                string? at = FirstDifferentStep(model, ids, generation, block, k, prompt["steps"]!.AsArray());
                if (actual.SequenceEqual(expected) && at is null) continue;
                failures.AppendLine($"{family} block {block} k {k} {name}: llama.cpp [{string.Join(",", expected)}]\n  Pardec [{string.Join(",", actual)}]\n  {at}");
            }
        }
        _output.WriteLine($"{family}: {compared} decodes compared, {failures.Length} mismatching");
        Assert.True(failures.Length == 0, failures.ToString());
    }

    [Fact]
    public void Llada_strategy_equals_what_llama_diffusion_cli_itself_printed()
    {
        // llama-diffusion-cli on a text prompt (it wraps it in chatml: 16 ids), -fa off: its printed text equals the
        // decoded diffusion_dump tokens (checked by the fixture script), which Pardec must reproduce.
        using var scope = torch.NewDisposeScope();
        var cli = Reference("dream")["llama_diffusion_cli"]!.AsObject();
        Assert.True(cli["equal"]!.GetValue<bool>(), "llama-diffusion-cli's text differed from diffusion_dump's when the fixture was made");
        int[] ids = Ints(cli["ids"]!), expected = Ints(cli["diffusion_dump_tokens"]!);
        using var dir = new TempDir();
        using var model = Load("dream", dir.Path, ScalarType.Float32);
        var parameters = new Dictionary<string, string> { ["block"] = "8", ["k"] = "2" }; // --diffusion-block-length 8, 4 steps per block
        using var decoder = PlanInterpreter.Create(LladaPlan(), new ModelSet().Add("model", model), parameters, ids.Length + expected.Length);
        var actual = decoder.Generate(ids, new GenerationOptions { MaxNewTokens = expected.Length, StopOnEos = false }).Tokens;
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData("llada")]
    [InlineData("dream")]
    public void Each_layout_runs_the_cached_and_lossless_masked_strategies_in_bf16(string family)
    {
        using var scope = torch.NewDisposeScope();
        var reference = Reference(family);
        var prompt = Ints(reference["runs"]![0]!["prompts"]![0]!["ids"]!);
        // f32 is the cross-check's; here bf16 compute (the compiled path on CPU), with the prefix cache (FastDllmThreshold),
        // the dual cache (FastDllmFactor) and the lossless draft-verify rule, which must equal one token per step.
        string[] strategies = ["FastDllmThreshold", "FastDllmFactor", "DllmDraftVerify", "LladaOneByOne"];
        var outputs = new Dictionary<string, int[]>();
        foreach (var dtype in new[] { ScalarType.BFloat16 })
        {
            using var dir = new TempDir();
            using var model = Load(family, dir.Path, dtype);
            foreach (var strategy in strategies)
            {
                using var decoder = PlanInterpreter.Create(Plan(strategy), new ModelSet().Add("model", model), null, prompt.Length + 32);
                var result = decoder.Generate(prompt, new GenerationOptions { MaxNewTokens = 32, StopOnEos = false });
                _output.WriteLine($"{family} {dtype} {strategy}: {result.Tokens.Count} tokens in {result.Stats.Steps} steps");
                Assert.Equal(32, result.Tokens.Count);
                Assert.DoesNotContain((int)model.Config.MaskTokenId!.Value, result.Tokens);
                outputs[strategy] = result.Tokens.ToArray();
            }
        }
        Assert.Equal(outputs["LladaOneByOne"], outputs["DllmDraftVerify"]);
    }

    [Fact]
    public void The_comparison_tells_shifted_from_unshifted_and_bidirectional_from_causal()
    {
        // Controls: the references are not so degenerate that a wrong denoiser would match them too.
        using var scope = torch.NewDisposeScope();
        foreach (var family in new[] { "llada", "dream" })
        {
            var run = Reference(family)["runs"]![0]!;
            var prompt = run["prompts"]![0]!;
            int[] ids = Ints(prompt["ids"]!), expected = Ints(prompt["tokens"]!);
            int block = run["block"]!.GetValue<int>(), k = run["tokens_per_step"]!.GetValue<int>();
            using var dir = new TempDir();
            using var model = Load(family, dir.Path, ScalarType.Float32);
            Assert.Equal(expected, Decode(model, ids, expected.Length, block, k));

            // The other shift: the same weights read one row off.
            var config = model.Config with { ShiftedLogits = !model.Config.ShiftedLogits };
            using var other = new LlamaForCausalLM(config, CPU, ScalarType.Float32);
            if (model is LLaDAModelLM llada) other.load_state_dict(llada.Inner.state_dict());
            else other.load_state_dict(((LlamaForCausalLM)model).state_dict());
            Assert.NotEqual(expected, Decode(other, ids, expected.Length, block, k));

            // Causal attention instead of the all-true mask.
            Assert.NotEqual(expected, Decode(new CausalAttention(model), ids, expected.Length, block, k));
        }
    }

    private static int[] Decode(ICausalLM model, int[] ids, int generation, int block, int k)
    {
        using var session = new MaskedSession(model, ids.Length + generation, block);
        var rule = new TopKCommit(k);
        using var _ = no_grad();
        session.Start(ids, generation, SamplingSettings.Greedy);
        while (!session.Done)
        {
            session.BeginStep();
            if (!session.HasPredictions) session.Predict();
            session.Selection.Clear();
            rule.Select(session.Block, session.Selection);
            session.Commit();
        }
        return session.Generated.ToArray();
    }

    /// <summary>A model whose every forward gets a causal mask, whatever the caller passed (a control).</summary>
    private sealed class CausalAttention(ICausalLM inner) : ICausalLM
    {
        public ModelConfig Config => inner.Config;
        public Device Device => inner.Device;
        public ScalarType DType => inner.DType;
        public KVCache CreateCache(int batch, int maxLength) => inner.CreateCache(batch, maxLength);
        public Tensor LogitsFromHidden(Tensor hidden) => inner.LogitsFromHidden(hidden);
        public void Dispose() { }

        public ModelOutput Forward(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, bool returnHidden = false, LayerSkip? skip = null)
        {
            long n = tokens.size(1), keys = attentionMask.size(-1);
            using var causal = ones(n, keys, ScalarType.Bool).tril(keys - n).view(1, 1, n, keys);
            return inner.Forward(tokens, positions, causal, cache, returnHidden, skip);
        }
    }

    [Fact]
    public void LLaDA_names_map_onto_the_Llama_block_and_unknown_tensors_are_refused()
    {
        Assert.Equal("model.transformer.blocks.3.ff_out.weight", LLaDAModelLM.CheckpointName("model.layers.3.mlp.down_proj.weight"));
        Assert.Equal("model.transformer.blocks.0.attn_out.weight", LLaDAModelLM.CheckpointName("model.layers.0.self_attn.o_proj.weight"));
        Assert.Equal("model.transformer.ff_out.weight", LLaDAModelLM.CheckpointName("lm_head.weight"));
        Assert.Equal("model.transformer.wte.weight", LLaDAModelLM.CheckpointName("model.embed_tokens.weight"));

        using var dir = new TempDir();
        SeededCheckpoints.Write(Path.Combine(PeerDiffusion, "llada", "checkpoint.json"), dir.Path, null);
        var config = ModelConfig.Load(Path.Combine(dir.Path, "config.json"));
        Assert.Equal(("llada", 64, 4, 4, 128, 126464, 126336, false), (config.ModelType, config.HiddenSize, config.NumHiddenLayers,
            config.NumAttentionHeads, config.IntermediateSize, config.VocabSize, config.MaskTokenId!.Value, config.ShiftedLogits));
        Assert.Equal(config.ToJson(), ModelConfig.Parse(config.ToJson()).ToJson()); // written back under LLaDA's names

        var error = Assert.Throws<ModelLoadException>(() => ModelConfig.Parse("""{"model_type":"llada","d_model":64,"n_heads":4,"n_layers":2,"mlp_hidden_size":128,"vocab_size":97,"include_qkv_bias":true}"""));
        Assert.Equal("include_qkv_bias", error.Item);
    }

    [Fact]
    public void A_LLaDA_directory_loads_through_PretrainedModel_as_every_command_loads_models()
    {
        using var dir = new TempDir();
        SeededCheckpoints.Write(Path.Combine(PeerDiffusion, "llada", "checkpoint.json"), dir.Path, null);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var direct = LLaDAModelLM.Load(dir.Path, CPU);
        using var loaded = PretrainedModel.LoadModel(dir.Path, CPU);
        var tokens = tensor(new long[] { 5, 17, 126336, 126336, 99 }).unsqueeze(0);
        var positions = arange(0, 5, ScalarType.Int64).unsqueeze(0);
        var mask = ones(1, 1, 5, 5, ScalarType.Bool);
        Assert.True(direct.Forward(tokens, positions, mask, null).Logits.eq(loaded.Forward(tokens, positions, mask, null).Logits).all().item<bool>());

        // A tensor LLaDA's block does not have is refused under its own name.
        var extra = Path.Combine(dir.Path, "model.safetensors");
        var entries = SafetensorsFile.Open(extra).Entries.Keys.ToList();
        var tensors = entries.Select(k => new KeyValuePair<string, Tensor>(k, SafetensorsFile.Open(extra).Read(k))).ToList();
        tensors.Add(new("model.transformer.blocks.0.att_proj.bias", zeros(4)));
        SafetensorsFile.Write(extra, tensors);
        var e = Assert.Throws<ModelLoadException>(() => { using var m = PretrainedModel.LoadModel(dir.Path, CPU); });
        Assert.Contains("model.transformer.blocks.0.att_proj.bias", e.Message);
    }

    private static string? FirstDifferentStep(ICausalLM model, int[] ids, int generation, int block, int k, JsonArray steps)
    {
        using var session = new MaskedSession(model, ids.Length + generation, block);
        var rule = new TopKCommit(k);
        using var _ = no_grad();
        session.Start(ids, generation, SamplingSettings.Greedy);
        int step = 0;
        while (!session.Done)
        {
            session.BeginStep();
            if (!session.HasPredictions) session.Predict();
            session.Selection.Clear();
            rule.Select(session.Block, session.Selection);
            session.Commit();
            long[] ours = session.Canvas[ids.Length..].ToArray();
            if (step >= steps.Count) return $"Pardec takes more than llama.cpp's {steps.Count} steps";
            long[] theirs = steps[step]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
            if (!ours.SequenceEqual(theirs))
                return $"first different canvas after step {step + 1}: llama.cpp [{string.Join(",", theirs)}] Pardec [{string.Join(",", ours)}]";
            step++;
        }
        return step == steps.Count ? null : $"Pardec took {step} steps, llama.cpp {steps.Count}";
    }

    private static ICausalLM Load(string family, string dir, ScalarType dtype)
    {
        SeededCheckpoints.Write(Path.Combine(PeerDiffusion, family, "checkpoint.json"), dir, null);
        // LLaDA loads through its own class (its tensor names); Dream is the Qwen2 layout and loads as one.
        return family == "llada" ? LLaDAModelLM.Load(dir, CPU, dtype) : PretrainedModel.LoadModel(dir, CPU, dtype);
    }

    private static Dsl.Plan.DecodePlan LladaPlan() => Plan("Llada");

    private static Dsl.Plan.DecodePlan Plan(string strategy)
    {
        foreach (var file in Directory.GetFiles(Path.Combine(Repo, "strategies"), "*.pdec"))
            foreach (var plan in PdecCompiler.Compile(File.ReadAllText(file)).Plans)
                if (plan.Name == strategy) return plan;
        throw new InvalidOperationException($"no strategy {strategy} in strategies/");
    }

    private static JsonObject Reference(string family) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(PeerDiffusion, family, "reference.json")))!.AsObject();

    private static int[] Ints(JsonNode n) => n.AsArray().Select(x => x!.GetValue<int>()).ToArray();

    private static string Repo
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (Directory.Exists(Path.Combine(d.FullName, "tests", "fixtures", "peer-diffusion"))) return d.FullName;
            throw new DirectoryNotFoundException($"no tests/fixtures/peer-diffusion above {AppContext.BaseDirectory}");
        }
    }

    private static string PeerDiffusion => Path.Combine(Repo, "tests", "fixtures", "peer-diffusion");
}
