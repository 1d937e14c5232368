using Pardec.Runtime.Decoding;
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
/// The block-diffusion layout of issue 17 item 1: Fast-dLLM v2 (Efficient-Large-Model/Fast_dLLM_v2_7B, <c>Fast_dLLM_Qwen</c>:
/// the Qwen2.5 layout, <c>bd_size</c>, block-causal attention, token shift) as a seeded checkpoint
/// (tests/fixtures/block-diffusion/fast_dllm_v2/checkpoint.json), f32 and bf16 on the compiled forward; its attention
/// mask against the published modeling code's rule; and the claim the finished-block cache rests on, that it decodes
/// exactly what recomputing everything decodes.
/// </summary>
public sealed class BlockDiffusionLayoutTests
{
    private readonly ITestOutputHelper _output;

    public BlockDiffusionLayoutTests(ITestOutputHelper output)
    {
        Init();
        _output = output;
    }

    [Fact]
    public void A_Fast_dLLM_v2_directory_loads_with_its_config_fields_and_the_Qwen2_tensor_names()
    {
        using var dir = new TempDir();
        SeededCheckpoints.Write(Spec, dir.Path, null);
        var config = ModelConfig.Load(Path.Combine(dir.Path, "config.json"));
        Assert.Equal((ModelConfig.FastDllmQwen, 32, true, 151665, true, false), (config.ModelType, config.DenoiserBlock!.Value,
            config.ShiftedLogits, config.MaskTokenId!.Value, config.QkvBias, config.OutputBias));
        Assert.Equal(Path.Combine(dir.Path, "config.json"), config.SourcePath);
        var back = ModelConfig.Parse(config.ToJson());
        Assert.Equal((32, true, 151665), (back.DenoiserBlock!.Value, back.ShiftedLogits, back.MaskTokenId!.Value));

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            using var model = PretrainedModel.LoadModel(dir.Path, CPU, dtype);
            Assert.Equal(dtype, model.DType);
            Assert.Contains(model.named_parameters(), p => p.name == "model.layers.1.self_attn.k_proj.bias");
            Assert.DoesNotContain(model.named_parameters(), p => p.name == "model.layers.1.self_attn.o_proj.bias");
            var tokens = tensor(new long[] { 5, 17, 151665, 151665, 99 }).unsqueeze(0);
            var logits = model.Forward(tokens, arange(0, 5, ScalarType.Int64).unsqueeze(0), ones(1, 1, 5, 5, ScalarType.Bool), null).Logits;
            Assert.Equal(new long[] { 1, 5, 152064 }, logits.shape);
            Assert.True(logits.isfinite().all().item<bool>());
        }

        // bd_size must be a block.
        var e = Assert.Throws<ModelLoadException>(() => ModelConfig.Parse(config.ToJson().Replace("\"bd_size\": 32", "\"bd_size\": 0")));
        Assert.Equal("bd_size", e.Item);
    }

    [Theory]
    [InlineData(10, 40, 0)]  // a prompt ending inside its block: the first block is the rest of it
    [InlineData(32, 40, 0)]  // a prompt of whole blocks
    [InlineData(45, 50, 8)]  // several model blocks, decoded in sub-blocks of 8 (Fast-dLLM v2's small_block_size)
    public void The_mask_of_every_forward_is_the_published_eval_block_diff_mask(int prompt, int generation, int subBlock)
    {
        // Fast_dLLM_v2_7B/modeling.py, Fast_dLLM_QwenModel.eval_mask(seqlen, block_size, cache_seq_len):
        //   q_indices = arange(seqlen) + cache_seq_len;  k_indices = arange(seqlen + cache_seq_len)
        //   mask = eval_block_diff_mask(q_idx=q_indices[:, None], kv_idx=k_indices[None, :], block_size)
        // with eval_block_diff_mask(q_idx, kv_idx, block_size) = q_idx // block_size >= kv_idx // block_size.
        static bool Reference(int q, int k, int block) => q / block >= k / block;

        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        SeededCheckpoints.Write(Spec, dir.Path, null);
        using var inner = PretrainedModel.LoadModel(dir.Path, CPU);
        foreach (var cache in new[] { MaskedCacheMode.None, MaskedCacheMode.Prefix })
        {
            var recorder = new RecordingModel(inner);
            Decode(recorder, Prompt(prompt), generation, subBlock == 0 ? 32 : subBlock, cache, new ConfidenceCommit(0.5));
            Assert.NotEmpty(recorder.Forwards);
            foreach (var (cached, n, mask) in recorder.Forwards)
            {
                Assert.Equal(new long[] { 1, 1, n, cached + n }, mask.shape);
                var rows = mask.reshape(n, cached + n).data<bool>().ToArray();
                for (int i = 0; i < n; i++)
                    for (int k = 0; k < cached + n; k++)
                        Assert.True(rows[i * (cached + n) + k] == Reference(cached + i, k, 32), $"{cache}: query {cached + i}, key {k} (cache {cached})");
            }
            if (cache == MaskedCacheMode.Prefix)
                Assert.Contains(recorder.Forwards, f => f.Cached > 0); // the finished blocks were reused
        }
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void The_finished_block_cache_decodes_what_recomputing_everything_decodes_token_for_token(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        SeededCheckpoints.Write(Spec, dir.Path, null);
        using var model = PretrainedModel.LoadModel(dir.Path, CPU, dtype);
        int compared = 0, cachedRows = 0, fullRows = 0;
        // A prompt ending inside its block, one-by-one over whole blocks; a longer one, threshold commits in sub-blocks
        // of 8 (Fast-dLLM v2's small_block_size); a prompt of whole blocks, one-by-one in sub-blocks.
        foreach (var (prompt, block, rule) in new (int, int, object)[] { (7, 32, new OneCommit()), (41, 8, new ConfidenceCommit(0.3)), (32, 8, new OneCommit()) })
        {
            var none = new RecordingModel(model);
            var prefix = new RecordingModel(model);
            var (full, fullSteps) = Decode(none, Prompt(prompt), 48, block, MaskedCacheMode.None, rule);
            var (cached, cachedSteps) = Decode(prefix, Prompt(prompt), 48, block, MaskedCacheMode.Prefix, rule);
            Assert.Equal(full, cached);
            Assert.Equal(fullSteps, cachedSteps);
            Assert.DoesNotContain((int)ModelConfig.FastDllmMaskTokenId, cached);
            fullRows += none.Forwards.Sum(f => f.Rows);
            cachedRows += prefix.Forwards.Sum(f => f.Rows);
            compared++;
        }
        _output.WriteLine($"{dtype}: {compared} decodes equal; rows forwarded {cachedRows} with the finished-block cache vs {fullRows} recomputing");
        Assert.True(cachedRows < fullRows * 3 / 4, $"the cache forwarded {cachedRows} rows, recomputing {fullRows}");
    }

    [Fact]
    public void A_dual_cache_on_a_block_causal_denoiser_is_refused()
    {
        using var dir = new TempDir();
        SeededCheckpoints.Write(Spec, dir.Path, null);
        using var model = PretrainedModel.LoadModel(dir.Path, CPU);
        var e = Assert.Throws<NotSupportedException>(() => new MaskedSession(model, 128, 32, MaskedCacheMode.Dual));
        Assert.Contains("cache prefix", e.Message);
    }

    private static (int[] Tokens, int Steps) Decode(ICausalLM model, int[] prompt, int generation, int block, MaskedCacheMode cache, object rule)
    {
        using var session = new MaskedSession(model, prompt.Length + generation, block, cache);
        using var _ = no_grad();
        session.Start(prompt, generation, SamplingSettings.Greedy);
        while (!session.Done)
        {
            session.BeginStep();
            if (!session.HasPredictions) session.Predict();
            session.Selection.Clear();
            if (rule is OneCommit one) one.Select(session.Block, session.Selection);
            else ((ConfidenceCommit)rule).Select(session.Block, session.Selection);
            session.Commit();
        }
        return (session.Generated.ToArray(), session.Steps);
    }

    // Prompt ids from the seeded vocabulary, away from the special tokens.
    private static int[] Prompt(int length) => Enumerable.Range(0, length).Select(i => 1000 + (i * 7919) % 140000).ToArray();

    /// <summary>Records each forward's cache length, row count and mask (a copy), then runs the model.</summary>
    private sealed class RecordingModel(ICausalLM inner) : ICausalLM
    {
        public List<(int Cached, int Rows, Tensor Mask)> Forwards { get; } = [];
        public ModelConfig Config => inner.Config;
        public Device Device => inner.Device;
        public ScalarType DType => inner.DType;
        public KVCache CreateCache(int batch, int maxLength) => inner.CreateCache(batch, maxLength);
        public Tensor LogitsFromHidden(Tensor hidden) => inner.LogitsFromHidden(hidden);
        public void Dispose() { }

        public ModelOutput Forward(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, bool returnHidden = false, LayerSkip? skip = null)
        {
            Forwards.Add((cache?.Length ?? 0, (int)tokens.size(1), attentionMask.clone().MoveToOuterDisposeScope()));
            return inner.Forward(tokens, positions, attentionMask, cache, returnHidden, skip);
        }
    }

    private static string Spec => Path.Combine(Repo, "tests", "fixtures", "block-diffusion", "fast_dllm_v2", "checkpoint.json");

    private static string Repo
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (Directory.Exists(Path.Combine(d.FullName, "tests", "fixtures", "block-diffusion"))) return d.FullName;
            throw new DirectoryNotFoundException($"no tests/fixtures/block-diffusion above {AppContext.BaseDirectory}");
        }
    }
}
