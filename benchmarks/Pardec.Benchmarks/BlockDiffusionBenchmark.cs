using System.Diagnostics;
using System.Globalization;
using System.Text;
using Pardec.Dsl;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Tests.RealLayouts;
using Pardec.Strategies;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

/// <summary>
/// <c>block-diffusion [--generation N] [--prompts K] [--out DIR]</c>: strategies/fast_dllm_v2.pdec on the seeded
/// Fast-dLLM v2 checkpoint (tests/fixtures/block-diffusion/fast_dllm_v2, the published layout with random weights), f32
/// and bf16, one thread: each strategy with its finished-block cache (<c>cache prefix</c>, as declared) and with
/// <c>cache none</c> (recomputing everything), interleaved per prompt in one run. Reports steps per token, tokens per
/// second, the cache's speedup, and whether the two decoded the same tokens (they must: the cache is exact). Random
/// weights say nothing about quality; this measures what the cache saves and what parallel commits cost in steps.
/// </summary>
public static class BlockDiffusionBenchmark
{
    public static int Run(string[] args)
    {
        int generation = 128, prompts = 4;
        string? outDir = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--generation") generation = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--prompts") prompts = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--out") outDir = args[++i];
            else { Console.WriteLine("usage: block-diffusion [--generation N] [--prompts K] [--out DIR]"); return 2; }
        }
        torch.set_num_threads(1);
        string root = StrategyBenchmark.RepoRoot();
        string dir = Path.Combine(Path.GetTempPath(), "pardec-block-diffusion-" + Environment.ProcessId);
        SeededCheckpoints.Write(Path.Combine(root, "tests", "fixtures", "block-diffusion", "fast_dllm_v2", "checkpoint.json"), dir, null);
        string load = File.ReadAllText("/proc/loadavg").Trim();
        var rows = new List<string>();
        // Prompts of several lengths (inside a block, a whole block, several blocks), ids away from the special tokens.
        var inputs = Enumerable.Range(0, prompts).Select(k => Enumerable.Range(0, 7 + 19 * k).Select(i => 1000 + (i * 7919 + k * 104729) % 140000).ToArray()).ToArray();
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            using var model = PretrainedModel.LoadModel(dir, CPU, dtype);
            var models = new ModelSet().Add("model", model);
            foreach (var name in new[] { "FastDllmV2", "FastDllmV2OneByOne" })
            {
                var plan = PdecCompiler.Compile(GeneratedStrategies.All.Single(s => s.Name == name).Plan).Plans[0];
                var recompute = plan with { Canvas = plan.Canvas with { Cache = CacheMode.None } };
                int maxLength = inputs.Max(p => p.Length) + generation;
                using var cached = PlanInterpreter.Create(plan, models, null, maxLength);
                using var full = PlanInterpreter.Create(recompute, models, null, maxLength);
                var options = new GenerationOptions { MaxNewTokens = generation, StopOnEos = false };
                cached.Generate(inputs[0], options with { MaxNewTokens = 8 }); // warm-up
                full.Generate(inputs[0], options with { MaxNewTokens = 8 });
                long tokens = 0, steps = 0;
                double cachedSeconds = 0, fullSeconds = 0;
                bool equal = true;
                foreach (var prompt in inputs)
                {
                    var t = Stopwatch.StartNew();
                    var a = cached.Generate(prompt, options);
                    cachedSeconds += t.Elapsed.TotalSeconds;
                    t.Restart();
                    var b = full.Generate(prompt, options);
                    fullSeconds += t.Elapsed.TotalSeconds;
                    equal &= a.Tokens.SequenceEqual(b.Tokens);
                    tokens += a.Tokens.Count;
                    steps += a.Stats.Steps;
                }
                string row = string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {(dtype == ScalarType.Float32 ? "f32" : "bf16")} | {tokens} | {(double)steps / tokens:F3} | {tokens / cachedSeconds:F1} | {tokens / fullSeconds:F1} | {fullSeconds / cachedSeconds:F2}x | {(equal ? "yes" : "NO")} |");
                Console.WriteLine(row);
                rows.Add(row);
                if (!equal) { Console.Error.WriteLine($"{name} {dtype}: the finished-block cache decoded other tokens than recomputing everything"); return 1; }
            }
        }
        Directory.Delete(dir, recursive: true);
        var md = new StringBuilder();
        md.AppendLine("# Fast-dLLM v2 on a seeded block-causal checkpoint: the finished-block cache against recomputing everything");
        md.AppendLine();
        md.AppendLine($"Command: `dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- block-diffusion --generation {generation} --prompts {prompts}`");
        md.AppendLine($"CPU: {Machine.Cpu}; one torch thread; load average at start {load}. Model: tests/fixtures/block-diffusion/fast_dllm_v2 (Fast_dLLM_v2_7B's layout, hidden 64, 2 layers, vocabulary 152064, bd_size 32, random weights).");
        md.AppendLine($"Prompts: {prompts}, of {string.Join(", ", inputs.Select(p => p.Length))} tokens; {generation} tokens each, greedy, EOS not stopping. Both caches of a strategy run interleaved per prompt in one process.");
        md.AppendLine();
        md.AppendLine("| strategy | dtype | tokens | steps/token | tok/s, finished-block cache | tok/s, recompute everything | cache speedup | same tokens |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var r in rows) md.AppendLine(r);
        md.AppendLine();
        md.AppendLine("FastDllmV2 is threshold 0.9 in sub-blocks of 8; on random weights few positions reach it, so its steps per token stay near one-by-one's. The vocabulary head (152064 × 64) is most of this model's forward, and a cached step still computes it for every forwarded row of the block.");
        string path = Path.Combine(outDir ?? Path.Combine(root, "benchmarks", "results"), "block-diffusion.md");
        File.WriteAllText(path, md.ToString());
        Console.WriteLine($"wrote {path}");
        return 0;
    }
}
