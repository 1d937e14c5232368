using Pardec.Runtime.Decoding;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Runtime.Quantization;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests.Quantization;

/// <summary>
/// Weight-only int8 / int4 linears: how far their logits are from the float model's (with the tolerance and its
/// reason), that the saved quantized checkpoint loads back to the same bits, that quantize-on-load equals quantizing
/// in memory, the integer math of the formats, and the errors for options the kernels cannot take. Compiled-vs-eager
/// equality of quantized forwards is in <see cref="ScriptedForwardTests"/>.
/// </summary>
public sealed class QuantizedModelTests(ITestOutputHelper output)
{
    // Every dimension fits the int4 kernel (out % 16, in % group), so no linear falls back to int8 here.
    private static ModelConfig Config(bool tied = false) => new()
    {
        ModelType = "llama", VocabSize = 512, HiddenSize = 256, IntermediateSize = 512, NumHiddenLayers = 2,
        NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDim = 64, MaxPositionEmbeddings = 128, EosTokenIds = [511], BosTokenId = 0,
        TieWordEmbeddings = tied,
    };

    private static Tensor Logits(CausalLMBase model, Tensor tokens)
    {
        using var masks = new AttentionMaskBuffer(1, 32, 64, CPU);
        using var cache = model.CreateCache(1, 64);
        return model.Forward(tokens, Positions(0, (int)tokens.size(1)), masks.Causal(0, (int)tokens.size(1)), cache).Logits.clone();
    }

    /// <summary>
    /// Relative error ||q - f|| / ||f|| of all logits of a 24-token prefill, seeded weights of std 0.02 (the HF init).
    /// A weight's rounding error is uniform within half a step: per channel int8 steps are max|w| / 127 (about 1/30 of
    /// the weights' spread for Gaussian rows of 256), int4 steps (max - min) / 15 per group of 32 (about 1/3). Through
    /// two layers and the head those become ~1% (int8) and ~15% (int4) of the logits; the bounds leave 2-3x room.
    /// </summary>
    [Theory]
    [InlineData("int8", 0.03)]
    [InlineData("int4", 0.30)]
    public void Quantized_logits_stay_within_the_stated_relative_error_of_the_float_model(string kind, double tolerance)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var reference = CausalLM.CreateRandom(Config(), CPU, ScalarType.Float32, seed: 5);
        using var quantized = PretrainedModel.Quantize(reference, kind == "int8" ? WeightQuantization.Int8 : WeightQuantization.Int4());
        Assert.All(QuantizedCheckpoint.Linears(quantized), l => Assert.Equal(kind == "int8" ? WeightKind.Int8 : WeightKind.Int4, l.Linear.Format.Kind));
        Assert.Equal(2 * 7 + 1, QuantizedCheckpoint.Linears(quantized).Count());
        var tokens = randint(0, 512, [1, 24], ScalarType.Int64, generator: new Generator(7));
        var f = Logits(reference, tokens);
        var q = Logits(quantized, tokens);
        double relative = (q - f).norm().item<float>() / f.norm().item<float>();
        double agree = q.argmax(-1).eq(f.argmax(-1)).to_type(ScalarType.Float32).mean().item<float>();
        output.WriteLine($"{kind}: relative logit error {relative:F4}, top-1 agreement {agree:P0}, max |diff| {MaxAbsDiff(q, f):G3} of max |logit| {f.abs().max().item<float>():G3}");
        Assert.True(relative < tolerance, $"{kind}: relative logit error {relative:F4} exceeds {tolerance}");
    }

    [Theory]
    [InlineData("int8", false)]
    [InlineData("int4", false)]
    [InlineData("int4", true)]
    public void A_saved_quantized_checkpoint_loads_back_to_the_same_logits_and_quantize_on_load_equals_quantizing_in_memory(string kind, bool tied)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var quantization = kind == "int8" ? WeightQuantization.Int8 : WeightQuantization.Int4();
        using var reference = CausalLM.CreateRandom(Config(tied), CPU, ScalarType.Float32, seed: 6);
        using var inMemory = PretrainedModel.Quantize(reference, quantization);
        string floatDir = TempDir(), quantDir = TempDir();
        try
        {
            PretrainedModel.Save(reference, floatDir);
            using var onLoad = PretrainedModel.LoadModel(floatDir, CPU, ScalarType.Float32, quantization: quantization);
            PretrainedModel.Save(inMemory, quantDir);
            using var reloaded = PretrainedModel.LoadModel(quantDir, CPU, ScalarType.Float32); // formats read from the file
            Assert.Equal(quantization.Name, reloaded.Quantization.Name);
            Assert.Contains("\"quant_method\": \"pardec\"", File.ReadAllText(Path.Combine(quantDir, "config.json")));
            var tokens = randint(0, 512, [1, 12], ScalarType.Int64, generator: new Generator(8));
            var expected = Logits(inMemory, tokens);
            Assert.True(expected.eq(Logits(onLoad, tokens)).all().item<bool>(), "quantize-on-load differs from quantizing in memory");
            Assert.True(expected.eq(Logits(reloaded, tokens)).all().item<bool>(), $"reloaded {kind} checkpoint: max |diff| {MaxAbsDiff(expected, Logits(reloaded, tokens))}");
            // The file holds the portable layout, a quarter (int8) or an eighth (int4) of the f32 bytes for the linears.
            var file = SafetensorsFile.Open(Path.Combine(quantDir, "model.safetensors"));
            var q = file.Entries["model.layers.0.mlp.up_proj.weight"];
            Assert.Equal(kind == "int8" ? ScalarType.Int8 : ScalarType.Byte, q.DType);
            Assert.Equal(kind == "int8" ? new long[] { 512, 256 } : [512, 128], q.Shape);
            if (tied) Assert.True(file.Entries.ContainsKey("lm_head.weight"), "a tied model's quantized head is saved");
        }
        finally { Directory.Delete(floatDir, true); Directory.Delete(quantDir, true); }
    }

    [Fact]
    public void The_int4_layout_round_trips_and_dequantizes_as_documented()
    {
        using var scope = NewDisposeScope();
        var w = randn([32, 64], generator: new Generator(9)) * 0.05;
        var (q, scale, zero) = WeightQuantizer.Int4(w, 32, ScalarType.Float32);
        Assert.True(q.min().item<int>() >= 0 && q.max().item<int>() <= 15);
        Assert.True(WeightQuantizer.UnpackNibbles(WeightQuantizer.PackNibbles(q)).eq(q).all().item<bool>());
        var dequantized = WeightQuantizer.DequantizeInt4(q, scale, zero);
        // Asymmetric rounding to the nearest of 16 levels: at most half a step off.
        var step = scale.repeat_interleave(32, 1);
        Assert.True((dequantized - w).abs().le(step * 0.5 + 1e-6).all().item<bool>());
        // The kernel multiplies by exactly that weight (recovered through it with one-hot rows).
        using var linear = new QuantizedLinear(64, 32, hasBias: false, LinearFormat.Int4(32), CPU, ScalarType.Float32);
        linear.SetInt4Values(q, scale, zero);
        Assert.True(linear.DequantizedFloat().allclose(dequantized, rtol: 1e-6, atol: 1e-7)); // the kernel may fuse (q - 8) * s + z differently
        var exported = linear.Export();
        Assert.True(exported[0].Value.eq(WeightQuantizer.PackNibbles(q)).all().item<bool>());
    }

    [Fact]
    public void Int8_is_symmetric_per_output_channel()
    {
        using var scope = NewDisposeScope();
        var w = randn([16, 40], generator: new Generator(10));
        var (q, scale) = WeightQuantizer.Int8(w, ScalarType.Float32);
        Assert.Equal([16L], scale.shape);
        Assert.True(q.abs().amax([1]).eq(127).all().item<bool>()); // each row's largest weight maps to ±127
        Assert.True((WeightQuantizer.DequantizeInt8(q, scale) - w).abs().le(scale.unsqueeze(1) * 0.5 + 1e-6).all().item<bool>());
    }

    [Fact]
    public void Options_the_kernels_cannot_take_are_refused_with_the_valid_choices()
    {
        var e = Assert.Throws<ArgumentException>(() => new LlamaForCausalLM(Config(), CPU, ScalarType.Float32, WeightQuantization.Int4(16)));
        Assert.Contains("32, 64, 128, 256", e.Message);
        var gpt2 = new ModelConfig { ModelType = "gpt2", VocabSize = 64, HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 2, HeadDim = 16, MaxPositionEmbeddings = 16 };
        Assert.Contains("Llama family", Assert.Throws<NotSupportedException>(() => CausalLM.Create(gpt2, CPU, ScalarType.Float32, WeightQuantization.Int8)).Message);
        Assert.Contains("CPU kernels", Assert.Throws<NotSupportedException>(() => new QuantizedLinear(64, 32, false, LinearFormat.Int8, new Device(DeviceType.CUDA), ScalarType.Float32)).Message);

        // A stored quantized checkpoint loads in its own format only.
        string dir = TempDir();
        try
        {
            using var reference = CausalLM.CreateRandom(Config(), CPU, ScalarType.Float32, seed: 11);
            using var int8 = PretrainedModel.Quantize(reference, WeightQuantization.Int8);
            PretrainedModel.Save(int8, dir);
            var load = Assert.Throws<ModelLoadException>(() => PretrainedModel.LoadModel(dir, CPU, quantization: WeightQuantization.Int4()));
            Assert.Contains("stored quantized (int8)", load.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Int4_falls_back_to_int8_where_a_linear_does_not_fit_the_kernel()
    {
        var q = WeightQuantization.Int4(32);
        Assert.Equal(LinearFormat.Int4(32), q.For("x", 64, 256, isHead: false));
        Assert.Equal(LinearFormat.Int8, q.For("x", 344, 256, isHead: false)); // out % 16 != 0
        Assert.Equal(LinearFormat.Int8, q.For("x", 256, 344, isHead: false)); // in % 32 != 0
        Assert.Equal(LinearFormat.Float, (q with { QuantizeHead = false }).For("lm_head", 512, 256, isHead: true));
    }

    private static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "pardec-quant-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
