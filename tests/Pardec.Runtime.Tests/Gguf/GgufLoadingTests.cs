using Pardec.Runtime.Decoding;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Runtime.Quantization;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests.Gguf;

/// <summary>
/// GGUF files written from seeded weights (<see cref="GgufWriter"/>, llama.cpp's layout and quantizers) load back into
/// the model the weights came from: F32 bit for bit (names, the <c>llama</c> q/k un-permutation and the config from
/// metadata are right), Q4_0 onto int4 exactly (the kernel multiplies by the very weights the blocks decode to), Q8_0
/// onto int8 within its requantization error, and every file dequantized with <see cref="WeightQuantization.None"/>.
/// </summary>
public sealed class GgufLoadingTests(ITestOutputHelper output)
{
    public static TheoryData<string> Families => new() { "llama", "qwen3", "qwen2" };

    private static ModelConfig Config(string family) => new()
    {
        ModelType = family, VocabSize = 256, HiddenSize = 128, IntermediateSize = 256, NumHiddenLayers = 2,
        NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDim = 32, MaxPositionEmbeddings = 128, EosTokenIds = [255], BosTokenId = 1,
        QkNorm = family == "qwen3", AttentionBias = family == "qwen2", TieWordEmbeddings = family == "qwen3", RopeTheta = 1_000_000,
    };

    private static Tensor Logits(CausalLMBase model, Tensor tokens)
    {
        using var masks = new AttentionMaskBuffer(1, 32, 64, CPU);
        using var cache = model.CreateCache(1, 64);
        return model.Forward(tokens, Positions(0, (int)tokens.size(1)), masks.Causal(0, (int)tokens.size(1)), cache).Logits.clone();
    }

    [Theory, MemberData(nameof(Families))]
    public void Gguf_files_load_back_into_the_model_they_were_written_from(string family)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var reference = CausalLM.CreateRandom(Config(family), CPU, ScalarType.Float32, seed: 31, std: 0.05);
        if (family == "qwen2") foreach (var (n, p) in reference.named_parameters()) if (n.EndsWith(".bias")) p.normal_(0, 0.05);
        var tokens = randint(0, 256, [1, 16], ScalarType.Int64, generator: new Generator(4));
        var expected = Logits(reference, tokens);
        string dir = Path.Combine(Path.GetTempPath(), "pardec-gguf-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            string f32 = Path.Combine(dir, "f32.gguf"), q8 = Path.Combine(dir, "q8_0.gguf"), q4 = Path.Combine(dir, "q4_0.gguf");
            GgufWriter.Write(f32, reference, GgmlType.F32);
            GgufWriter.Write(q8, reference, GgmlType.Q8_0, GgmlType.Q8_0);
            GgufWriter.Write(q4, reference, GgmlType.Q4_0, GgmlType.Q4_0);
            Assert.True(GgufFile.IsGguf(f32));

            using (var pm = PretrainedModel.LoadGguf(f32, CPU))
            {
                Assert.Equal(reference.Config.ToJson(), pm.Config.ToJson());
                Assert.True(pm.Model.Quantization.IsNone);
                var got = Logits(pm.Model, tokens);
                Assert.True(got.eq(expected).all().item<bool>(), $"{family} F32 GGUF: max |diff| {MaxAbsDiff(got, expected)}");
            }

            // Q4_0 onto int4 g32: the kernel's weight is exactly the blocks' decoded weight.
            using var q4Float = PretrainedModel.LoadGguf(q4, CPU, quantization: WeightQuantization.None);
            using var q4Int = PretrainedModel.LoadGguf(q4, CPU);
            var linears = QuantizedCheckpoint.Linears(q4Int.Model).ToList();
            Assert.Equal(2 * 7 + 1, linears.Count);
            Assert.All(linears, l => Assert.Equal(LinearFormat.Int4(32), l.Linear.Format));
            var floatWeights = q4Float.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (module, linear) in linears)
            {
                var w = module == "lm_head" && !floatWeights.ContainsKey("lm_head.weight") ? floatWeights["model.embed_tokens.weight"] : floatWeights[module + ".weight"];
                Assert.True(linear.DequantizedFloat().allclose(w, rtol: 1e-6, atol: 1e-7), $"{family} {module}: int4 weight differs from the Q4_0 blocks");
            }
            var q4Logits = Logits(q4Int.Model, tokens);
            var q4FloatLogits = Logits(q4Float.Model, tokens);

            using var q8Float = PretrainedModel.LoadGguf(q8, CPU, quantization: WeightQuantization.None);
            using var q8Int = PretrainedModel.LoadGguf(q8, CPU);
            Assert.All(QuantizedCheckpoint.Linears(q8Int.Model), l => Assert.Equal(LinearFormat.Int8, l.Linear.Format));
            var q8Logits = Logits(q8Int.Model, tokens);
            var q8FloatLogits = Logits(q8Float.Model, tokens);

            double Rel(Tensor a, Tensor b) => (a - b).norm().item<float>() / b.norm().item<float>();
            output.WriteLine($"{family}: relative logit error vs f32 - Q8_0 dequantized {Rel(q8FloatLogits, expected):G3}, Q8_0 as int8 {Rel(q8Logits, expected):G3}; " +
                             $"Q4_0 dequantized {Rel(q4FloatLogits, expected):G3}, Q4_0 as int4 {Rel(q4Logits, expected):G3} (int4 vs its dequantized: {Rel(q4Logits, q4FloatLogits):G3})");
            Assert.True(Rel(q4Logits, q4FloatLogits) < 1e-4, "int4 from Q4_0 multiplies by the same weights: only summation order differs");
            Assert.True(Rel(q8FloatLogits, expected) < 0.03 && Rel(q8Logits, expected) < 0.04, "Q8_0 (and its int8 requantization) within int8 error");
            Assert.True(Rel(q4FloatLogits, expected) < 0.3, "Q4_0 within int4 error");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Unsupported_ggml_types_and_architectures_are_named()
    {
        string dir = Path.Combine(Path.GetTempPath(), "pardec-gguf-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            using var model = CausalLM.CreateRandom(Config("llama"), CPU, ScalarType.Float32, seed: 1);
            string path = Path.Combine(dir, "m.gguf");
            GgufWriter.Write(path, model, GgmlType.F32);
            var bytes = File.ReadAllBytes(path);
            // Rewrite the architecture string "llama" as "gemma" (same length).
            int at = IndexOf(bytes, "llama"u8.ToArray());
            "gemma"u8.ToArray().CopyTo(bytes, at);
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<ModelLoadException>(() => PretrainedModel.LoadGguf(path, CPU));
            Assert.Contains("'gemma' is not a GGUF architecture Pardec loads (llama, qwen2, qwen3)", e.Message);
            File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
            Assert.Contains("truncated", Assert.Throws<ModelLoadException>(() => GgufFile.Open(path)).Message);
            File.WriteAllBytes(path, "GGML0000"u8.ToArray());
            Assert.Contains("not a GGUF file", Assert.Throws<ModelLoadException>(() => GgufFile.Open(path)).Message);
            Assert.Contains("Q6_K (14) is not one Pardec reads", Assert.Throws<ModelLoadException>(() => GgufFile.ByteSize(GgmlType.Q6_K, 256, "output.weight")).Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        return -1;
    }
}
