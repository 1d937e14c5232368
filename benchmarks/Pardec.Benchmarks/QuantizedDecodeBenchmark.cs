using System.Diagnostics;
using System.Numerics.Tensors;
using System.Text;
using System.Text.Json;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Runtime.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

/// <summary>
/// Plain greedy decoding per weight format (f32, bf16, int8, int4-g32) on a Qwen3-0.6B-shaped seeded model, each figure as
/// a fraction of this machine's single-thread read bandwidth: bytes of weights read per token × tok/s ÷ bandwidth
/// (issue 20, item 3). One torch thread, weights in memory.
/// <code>dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- quantized-decode [--tokens 32] [--out benchmarks/results/quantized-decode-qwen3-0.6b]</code>
/// </summary>
internal static class QuantizedDecodeBenchmark
{
    // Qwen/Qwen3-0.6B's config.json dimensions (28 layers, hidden 1024, MLP 3072, 16 heads of 128, 8 KV heads, tied head).
    internal static ModelConfig Qwen3_0_6B => new()
    {
        ModelType = "qwen3", VocabSize = 151936, HiddenSize = 1024, IntermediateSize = 3072, NumHiddenLayers = 28,
        NumAttentionHeads = 16, NumKeyValueHeads = 8, HeadDim = 128, MaxPositionEmbeddings = 40960, RopeTheta = 1_000_000,
        NormEps = 1e-6, TieWordEmbeddings = true, QkNorm = true, BosTokenId = null, EosTokenIds = [151645],
    };

    public static int Run(string[] args)
    {
        int tokens = 32;
        string outPath = Path.Combine("benchmarks", "results", "quantized-decode-qwen3-0.6b");
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--tokens") tokens = int.Parse(args[++i]);
            else if (args[i] == "--out") outPath = args[++i];
            else { Console.Error.WriteLine($"unknown option {args[i]}"); return 2; }
        }
        torch.set_num_threads(1);
        var (managedGBs, torchGBs) = ReadBandwidth();
        double bandwidth = Math.Max(managedGBs, torchGBs);
        Console.WriteLine($"read bandwidth, 1 thread: {managedGBs:F1} GB/s (TensorPrimitives.Sum), {torchGBs:F1} GB/s (torch.sum) -> {bandwidth:F1} GB/s");

        var rows = new List<Row>();
        var config = Qwen3_0_6B;
        using (var f32 = CausalLM.CreateRandom(config, CPU, ScalarType.Float32, seed: 7))
        {
            rows.Add(Measure("f32", f32, tokens, bandwidth));
            using (var int8 = PretrainedModel.Quantize(f32, WeightQuantization.Int8)) rows.Add(Measure("int8 (f32 activations)", int8, tokens, bandwidth));
            using (var int4 = PretrainedModel.Quantize(f32, WeightQuantization.Int4(32))) rows.Add(Measure("int4-g32 (f32 activations)", int4, tokens, bandwidth));
        }
        using (var bf16 = CausalLM.CreateRandom(config, CPU, ScalarType.BFloat16, seed: 7))
        {
            rows.Add(Measure("bf16", bf16, tokens, bandwidth));
            using (var int8 = PretrainedModel.Quantize(bf16, WeightQuantization.Int8)) rows.Add(Measure("int8 (bf16 activations)", int8, tokens, bandwidth));
            using (var int4 = PretrainedModel.Quantize(bf16, WeightQuantization.Int4(32))) rows.Add(Measure("int4-g32 (bf16 activations)", int4, tokens, bandwidth));
        }
        Write(outPath, rows, managedGBs, torchGBs, bandwidth, tokens);
        return 0;
    }

    private sealed record Row(string Format, double WeightGB, double TokensPerSecond, double StreamedGBs, double Fraction);

    // Best of 5 sequential reads of 1 GiB, one thread: a managed vectorised sum and libtorch's own reduction.
    internal static (double Managed, double Torch) ReadBandwidth()
    {
        const int n = 1 << 28; // 256 Mi floats = 1 GiB
        var data = GC.AllocateUninitializedArray<float>(n);
        data.AsSpan().Fill(1f);
        double managed = 0, viaTorch = 0;
        for (int r = 0; r < 5; r++)
        {
            var sw = Stopwatch.StartNew();
            float s = TensorPrimitives.Sum<float>(data);
            managed = Math.Max(managed, n * 4.0 / sw.Elapsed.TotalSeconds / 1e9);
            if (s == 0) Console.Write("");
        }
        data = null;
        GC.Collect();
        using var t = torch.ones(n, ScalarType.Float32);
        for (int r = 0; r < 5; r++)
        {
            var sw = Stopwatch.StartNew();
            using var s = t.sum();
            _ = s.item<float>();
            viaTorch = Math.Max(viaTorch, n * 4.0 / sw.Elapsed.TotalSeconds / 1e9);
        }
        return (managed, viaTorch);
    }

    // Bytes a decode step reads: every linear's weight (and scales), the norms, and the head (the tied embedding, or its
    // quantized copy); the embedding lookup reads one row and is left out.
    internal static double WeightBytes(CausalLMBase model)
    {
        double bytes = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            if (name == "model.embed_tokens.weight" && (model.Config.TieWordEmbeddings is false || QuantizedCheckpoint.Linears(model).Any(l => l.Module == "lm_head"))) continue;
            bytes += p.NumberOfElements * p.ElementSize;
        }
        foreach (var (_, l) in QuantizedCheckpoint.Linears(model))
            bytes += l.KernelWeight.NumberOfElements * l.KernelWeight.ElementSize + l.KernelScales.NumberOfElements * l.KernelScales.ElementSize;
        return bytes;
    }

    private static Row Measure(string format, CausalLMBase model, int tokens, double bandwidth)
    {
        using var _ = no_grad();
        int[] prompt = Enumerable.Range(0, 16).Select(i => 1000 + 37 * i).ToArray();
        using var generator = new AutoregressiveGenerator(model, null, prompt.Length + tokens + 2);
        var options = new GenerationOptions { MaxNewTokens = tokens + 1, StopOnEos = false };
        generator.Generate(prompt, options); // warm-up: compiles the forward, touches every weight
        double best = double.MaxValue;
        for (int r = 0; r < 3; r++)
        {
            var result = generator.Generate(prompt, options);
            if (result.Stats.Steps != tokens) throw new InvalidOperationException($"{format}: {result.Stats.Steps} decode steps, expected {tokens} ({result.StopReason})");
            best = Math.Min(best, result.Stats.DecodeTime.TotalSeconds); // the `tokens` one-token steps after the prefill
        }
        double tps = tokens / best, gb = WeightBytes(model) / 1e9, streamed = gb * tps;
        var row = new Row(format, gb, tps, streamed, streamed / bandwidth);
        Console.WriteLine($"{format,-28} {gb,6:F2} GB/token  {tps,7:F2} tok/s  {streamed,6:F1} GB/s  {row.Fraction,6:P0} of bandwidth");
        return row;
    }

    private static void Write(string outPath, List<Row> rows, double managed, double viaTorch, double bandwidth, int tokens)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        string command = $"dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- quantized-decode --tokens {tokens}";
        var json = new
        {
            command, cpu = Machine.Cpu, threads = 1, model = "Qwen3-0.6B-shaped (seeded random weights; 28 layers, hidden 1024, MLP 3072, vocab 151936, tied)",
            decodeTokens = tokens, readBandwidthGBs = new { tensorPrimitivesSum = managed, torchSum = viaTorch, used = bandwidth },
            rows = rows.Select(r => new { format = r.Format, weightGBPerToken = r.WeightGB, tokensPerSecond = r.TokensPerSecond, streamedGBs = r.StreamedGBs, fractionOfBandwidth = r.Fraction }),
        };
        File.WriteAllText(outPath + ".json", JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        var md = new StringBuilder();
        md.AppendLine("# Plain decode per weight format, as a fraction of read bandwidth (Qwen3-0.6B shape)").AppendLine();
        md.AppendLine($"`{command}` — CPU: {Machine.Cpu}; one torch thread; greedy, 16-token prompt, {tokens} one-token decode steps timed after the prefill (best of 3); seeded random weights in the Qwen3-0.6B layout.").AppendLine();
        md.AppendLine($"Read bandwidth, one thread, best of 5 reads of 1 GiB: {managed:F1} GB/s (`TensorPrimitives.Sum`), {viaTorch:F1} GB/s (`torch.sum`); the larger, {bandwidth:F1} GB/s, is the denominator.").AppendLine();
        md.AppendLine("| weights | GB read per token | tok/s | GB/s streamed | fraction of bandwidth |");
        md.AppendLine("|---|---|---|---|---|");
        foreach (var r in rows) md.AppendLine($"| {r.Format} | {r.WeightGB:F3} | {r.TokensPerSecond:F2} | {r.StreamedGBs:F1} | {r.Fraction:P0} |");
        md.AppendLine().AppendLine("GB read per token: every linear's weight and scales, the norms and the LM head (the tied embedding for f32/bf16, its quantized copy otherwise); the one embedding row a token reads is left out. Raw numbers: the .json beside this file.");
        File.WriteAllText(outPath + ".md", md.ToString());
        Console.WriteLine($"wrote {outPath}.md and .json");
    }
}
