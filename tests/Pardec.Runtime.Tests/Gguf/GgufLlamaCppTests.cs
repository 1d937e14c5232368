using System.Text;
using System.Text.Json.Nodes;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Runtime.Quantization;
using Pardec.Runtime.Tests.RealLayouts;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests.Gguf;

/// <summary>
/// Quantized GGUF against llama.cpp on the same file. The references (tests/fixtures/peer-models/&lt;family&gt;/reference.q8_0.json,
/// .q4_0.json; made by make-gguf-references.py) are llama.cpp's greedy decoding of its own Q8_0 conversion and its
/// <c>llama-quantize --pure Q4_0</c> file of the seeded real-layout checkpoint. Here <see cref="GgufWriter"/> makes the
/// GGUF from the same seeded weights, and the test first proves it holds llama.cpp's bytes (the SHA-256 of every tensor),
/// then loads it in Pardec and compares logits and greedy tokens with llama.cpp's.
/// </summary>
/// <remarks>
/// The engines do not compute the same numbers, so the tolerance is wider than the f32 check's 5e-4: llama.cpp's CPU
/// kernels quantize the activations to Q8_0 (per 32 values) before every Q8_0 / Q4_0 dot product, where Pardec keeps them
/// in float32; and Pardec's int8 path requantizes Q8_0 blocks to one scale per row. Tokens must agree except after a
/// step where llama.cpp's own top-2 gap is under twice the tolerance (a near-tie either engine may break either way).
/// </remarks>
public sealed class GgufLlamaCppTests(ITestOutputHelper output)
{
    // Measured (this machine, llama.cpp 80fb11a): max |logit diff| 0.46 (qwen3 Q8_0 dequantized), 0.78 (qwen3 Q8_0 as int8),
    // 0.51 (qwen3 Q4_0 dequantized and as int4), 0.83 (tinyllama Q8_0 as int8), 0.79 (tinyllama Q4_0 as int4), with logits up
    // to 47. For scale: llama.cpp's own Q8_0 file differs from its f32 file by 0.71 on the same steps, its Q4_0 file by 4.8,
    // so the files are read the same and what remains is how each engine multiplies. The qwen3 int4 case decodes 4 prompts
    // (its 151936-row int4 head is slow in libtorch's kernel at the 90-row teacher-forced forward).
    [Theory]
    [InlineData("qwen3", "q8_0", "dequantized", 1.0f, 10)]
    [InlineData("qwen3", "q4_0", "int4", 1.0f, 4)]
    [InlineData("tinyllama", "q8_0", "int8", 1.0f, 10)]
    [InlineData("tinyllama", "q4_0", "int4", 1.0f, 10)]
    public void Quantized_gguf_logits_and_greedy_tokens_match_llama_cpp_on_the_same_file(string family, string type, string load, float tolerance, int promptCount)
    {
        Init();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var reference = JsonNode.Parse(File.ReadAllText(Path.Combine(PeerModels, family, $"reference.{type}.json")))!.AsObject();
        int newTokens = reference["new_tokens"]!.GetValue<int>();
        using var dir = new TempDir();
        // The real tokenizer data (tools/fetch-tokenizers.sh, run by the test build) goes into the checkpoint and, for the
        // byte-level BPE family, into the GGUF metadata, which is where Pardec then reads it from.
        SeededCheckpoints.Write(Path.Combine(PeerModels, family, "checkpoint.json"), dir.Path, Tokenizers);
        string ggufDir = Path.Combine(dir.Path, "gguf");
        Directory.CreateDirectory(ggufDir);
        string gguf = Path.Combine(ggufDir, $"model.{type}.gguf");
        bool bpe = family == "qwen3";
        using (var source = PretrainedModel.LoadModel(dir.Path, CPU, ScalarType.Float32))
        {
            var ggml = type == "q8_0" ? GgmlType.Q8_0 : GgmlType.Q4_0;
            string digest = GgufWriter.Write(gguf, source, ggml, ggml, bpe ? Path.Combine(dir.Path, "tokenizer.json") : null);
            Assert.Equal((string)reference["tensor_data_sha256"]!, digest);
        }
        using var pm = PretrainedModel.LoadGguf(gguf, CPU, ScalarType.Float32, load == "dequantized" ? WeightQuantization.None : null);
        if (bpe)
        {
            // The tokenizer from the file's metadata gives llama.cpp's own prompt ids.
            Assert.True(pm.Tokenizer is not null, string.Join(", ", GgufFile.Open(gguf).Metadata.Keys));
            var texts = JsonNode.Parse(File.ReadAllText(Path.Combine(PeerModels, "prompts.json")))!.AsArray().Select(p => (string)p!["text"]!).ToList();
            foreach (var (node, text) in reference["prompts"]!.AsArray().Zip(texts))
                Assert.Equal(Ints(node!["ids"]!), pm.Tokenizer!.Encode(text, addBos: false));
        }
        var model = pm.Model;
        var kinds = QuantizedCheckpoint.Linears(model).Select(l => l.Linear.Format.Kind).Distinct().ToList();
        Assert.Equal(load switch { "int8" => [WeightKind.Int8], "int4" => [WeightKind.Int4], _ => new List<WeightKind>() }, kinds);

        var failures = new StringBuilder();
        var notes = new StringBuilder();
        float maxDiff = 0;
        int compared = 0, agreeing = 0;
        var prompts = reference["prompts"]!.AsArray().Take(promptCount).ToList();
        using var generator = new AutoregressiveGenerator(model, null, prompts.Max(p => p!["ids"]!.AsArray().Count) + newTokens + 1);
        foreach (var node in prompts)
        {
            using var promptScope = NewDisposeScope();
            string name = (string)node!["name"]!;
            int[] ids = Ints(node["ids"]!), expected = Ints(node["tokens"]!);
            float[] top1 = Floats(node["top1_logit"]!), top2 = Floats(node["top2_logit"]!);
            var actual = generator.Generate(ids, new GenerationOptions { MaxNewTokens = newTokens, StopOnEos = false }).Tokens;
            int mismatch = Enumerable.Range(0, newTokens).FirstOrDefault(i => i >= actual.Count || actual[i] != expected[i], -1);
            int same = mismatch < 0 ? newTokens : mismatch;
            compared += newTokens; agreeing += same;
            if (mismatch >= 0)
            {
                float gap = top1[mismatch] - top2[mismatch];
                string at = $"{name}: step {mismatch}: llama.cpp {expected[mismatch]}, Pardec {actual[mismatch]} (llama.cpp's top-2 gap {gap:G3})";
                if (gap < 2 * tolerance) notes.AppendLine(at + ": a near-tie, rest of this prompt not compared");
                else failures.AppendLine(at);
            }
            // Teacher-forced on llama.cpp's tokens: the logit of its token and Pardec's runner-up against its top-1 / top-2.
            long[] all = [.. ids.Select(i => (long)i), .. expected.Take(newTokens - 1).Select(i => (long)i)];
            using var masks = new AttentionMaskBuffer(1, all.Length, all.Length, CPU);
            var logits = model.Forward(Tokens(all), Positions(0, all.Length), masks.Causal(0, all.Length), null).Logits[0].narrow(0, ids.Length - 1, newTokens);
            float[] chosen = logits.gather(1, tensor(expected.Select(i => (long)i).ToArray()).unsqueeze(1)).squeeze(1).data<float>().ToArray();
            float[] second = logits.topk(2, dim: -1).values.select(1, 1).contiguous().data<float>().ToArray();
            for (int s = 0; s < newTokens; s++)
                maxDiff = Math.Max(maxDiff, Math.Max(Math.Abs(chosen[s] - top1[s]), Math.Abs(second[s] - top2[s])));
        }
        string summary = $"{family} {type.ToUpperInvariant()} loaded {load}: max |logit - llama.cpp| = {maxDiff:G3} (tolerance {tolerance}); " +
                         $"greedy tokens equal up to the first difference on {agreeing}/{compared}";
        output.WriteLine(summary);
        if (notes.Length > 0) output.WriteLine(notes.ToString());
        if (maxDiff > tolerance) failures.AppendLine(summary);
        Assert.True(failures.Length == 0, $"{summary}\n{failures}{notes}");
    }

    private static int[] Ints(JsonNode n) => n.AsArray().Select(x => x!.GetValue<int>()).ToArray();
    private static float[] Floats(JsonNode n) => n.AsArray().Select(x => x!.GetValue<float>()).ToArray();

    private static string Tokenizers => Path.GetFullPath(Path.Combine(PeerModels, "..", "..", "..", "artifacts", "reference", "tokenizers"));

    private static string PeerModels
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (Directory.Exists(Path.Combine(d.FullName, "tests", "fixtures", "peer-models"))) return Path.Combine(d.FullName, "tests", "fixtures", "peer-models");
            throw new DirectoryNotFoundException($"no tests/fixtures/peer-models above {AppContext.BaseDirectory}");
        }
    }
}
