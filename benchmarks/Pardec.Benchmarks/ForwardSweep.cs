using System.Diagnostics;
using System.Globalization;
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
/// The verify-cost curve a strategy is priced against (issue 20, item 4): the median time of one cached forward of T
/// new tokens, as a ratio of one token's, for each weight format — measured interleaved (T = 1 again before every sample)
/// so load drift cancels. Tree and draft strategies pay off only while accepted tokens per step exceed this ratio for
/// their width; the cost-aware draft length (<c>cost_aware</c>) starts from these curves as its per-dtype prior.
/// <code>dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- forward-sweep --model padded --dtypes f32,bf16,int8,int4 --out benchmarks/results</code>
/// Models: <c>shipped</c> (the English target), <c>padded</c> (it, padded to 106M parameters as the strategy benchmark
/// pads it: 12 extra layers, MLP 8192), <c>qwen3-0.6b</c> (seeded random weights in the Qwen3-0.6B shape). int8 and int4
/// run with bf16 activations where the CPU computes bf16 natively (libtorch's quantized kernels are vectorised for bf16
/// only), as <c>pardec run --dtype int8|int4</c> does.
/// </summary>
public static class ForwardSweep
{
    public static int Run(string[] args)
    {
        string domain = "english", role = "target", model = "shipped"; int padLayers = 0, padMlp = 0, rounds = 7, context = 64; int threads = 1;
        string? outDir = null; var formats = new List<string> { "f32" }; bool eager = false;
        var widths = new List<int> { 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32 };
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--domain": domain = Next(); break;
                case "--role": role = Next(); break;
                case "--model": model = Next(); break;
                case "--pad-layers": padLayers = int.Parse(Next(), CultureInfo.InvariantCulture); model = "padded"; break;
                case "--pad-mlp": padMlp = int.Parse(Next(), CultureInfo.InvariantCulture); model = "padded"; break;
                case "--rounds": rounds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--context": context = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--widths": widths = Next().Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList(); break;
                case "--out": outDir = Next(); break;
                case "--dtype": case "--dtypes": formats = Next().Split(',').ToList(); break;
                case "--eager": eager = true; break;
                default: throw new ArgumentException($"forward-sweep: unknown option {args[i]}");
            }
        }
        if (model == "padded" && padLayers == 0 && padMlp == 0) (padLayers, padMlp) = (12, 8192);
        if (model is not ("shipped" or "padded" or "qwen3-0.6b")) throw new ArgumentException($"--model {model}: expected shipped, padded or qwen3-0.6b");
        foreach (var f in formats)
            if (f is not ("f32" or "bf16" or "int8" or "int4")) throw new ArgumentException($"--dtypes: '{f}' is not one of f32, bf16, int8, int4");
        if (widths.Count == 0 || widths.Any(w => w < 1)) throw new ArgumentException("--widths: positive token counts");
        if (!widths.Contains(1)) widths.Insert(0, 1);
        torch.set_num_threads(threads);
        using var _ = no_grad();
        var quantizedActivations = AutoDType.ForQuantized(CPU);

        var curves = new List<Curve>();
        string described = "";
        foreach (var format in formats)
        {
            var weights = format switch { "int8" => WeightQuantization.Int8, "int4" => WeightQuantization.Int4(32), _ => WeightQuantization.None };
            var dtype = format switch { "f32" => ScalarType.Float32, "bf16" => ScalarType.BFloat16, _ => quantizedActivations };
            using var built = Build(model, domain, role, padLayers, padMlp, dtype);
            using var quantized = weights.IsNone ? null : PretrainedModel.Quantize(built, weights);
            var m = quantized ?? built;
            m.CompiledForwardEnabled = !eager;
            described = $"{(model == "qwen3-0.6b" ? "Qwen3-0.6B shape, seeded random weights" : $"{domain} {role}{(model == "padded" ? ", padded" : "")}")} ({PaddedModel.Parameters(built) / 1e6:F1}M parameters)";
            var curve = Measure(m, widths, rounds, context);
            curve.Format = format + (weights.IsNone ? "" : $" ({AutoDType.Name(dtype)} activations)");
            curve.Key = format;
            curves.Add(curve);
            Console.WriteLine($"{curve.Format}: T=1 {curve.OneMs:F1} ms; " + string.Join(", ", widths.Select((w, k) => $"{w}: {curve.Ratios[k]:F2}x")));
        }

        string command = $"dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- forward-sweep {string.Join(' ', args)}";
        string date = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + "Z";
        var md = new StringBuilder();
        md.AppendLine($"# Verify cost by width: {described}").AppendLine();
        md.AppendLine($"Command: `{command}` ({date}, {threads} torch thread(s), {(eager ? "eager modules" : "compiled forward")}, cache holding {context} tokens, load at end `{Load()}`; CPU: {Machine.Cpu}).").AppendLine();
        md.AppendLine($"Cost of one cached forward of T new tokens relative to one token (median of {rounds} rounds; a T=1 forward is timed before every sample and the ratio is against their median). " +
                      "int8 is per-output-channel, int4 group-wise (32), both through libtorch's weight-only kernels. Raw numbers: the .json beside this file.").AppendLine();
        md.Append("| new tokens T |");
        foreach (var c in curves) md.Append($" {c.Format} |");
        md.AppendLine().Append("| ---: |");
        foreach (var _c in curves) md.Append(" ---: |");
        md.AppendLine();
        md.Append("| one token, ms |");
        foreach (var c in curves) md.Append(CultureInfo.InvariantCulture, $" {c.OneMs:F1} |");
        md.AppendLine();
        for (int k = 0; k < widths.Count; k++)
        {
            md.Append(CultureInfo.InvariantCulture, $"| {widths[k]} |");
            foreach (var c in curves) md.Append(CultureInfo.InvariantCulture, $" {c.Ratios[k]:F2}x |");
            md.AppendLine();
        }
        Console.WriteLine(md.ToString());
        if (outDir is not null)
        {
            Directory.CreateDirectory(outDir);
            string name = model == "qwen3-0.6b" ? "forward-sweep-qwen3-0.6b"
                : $"forward-sweep-{domain}{(role == "target" ? "" : "-" + role)}{(model == "padded" ? "-padded" : "")}";
            if (formats.Count == 1 && formats[0] != "f32") name += "-" + formats[0];
            else if (formats.Count > 1) name += "-dtypes";
            File.WriteAllText(Path.Combine(outDir, name + ".md"), md.ToString());
            var json = new
            {
                command, date, cpu = Machine.Cpu, threads, model = described, context, rounds, widths,
                curves = curves.Select(c => new { key = c.Key, format = c.Format, oneTokenMs = c.OneMs, medianMs = c.Ms, ratio = c.Ratios }),
            };
            File.WriteAllText(Path.Combine(outDir, name + ".json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        }
        return 0;
    }

    private sealed class Curve
    {
        public string Format = "", Key = "";
        public double OneMs;
        public double[] Ms = [], Ratios = [];
    }

    private static CausalLMBase Build(string model, string domain, string role, int padLayers, int padMlp, ScalarType dtype)
    {
        if (model == "qwen3-0.6b") return CausalLM.CreateRandom(QuantizedDecodeBenchmark.Qwen3_0_6B, CPU, dtype, seed: 7);
        var family = Path.Combine(StrategyBenchmark.RepoRoot(), "models", domain);
        var loaded = PretrainedModel.Load(Path.Combine(family, role), CPU, dtype);
        if (model != "padded") return loaded.Model;
        var padded = PaddedModel.Pad(loaded.Model, padLayers, Math.Max(padMlp, loaded.Config.IntermediateSize));
        loaded.Dispose();
        return padded;
    }

    private static Curve Measure(CausalLMBase model, List<int> widths, int rounds, int context)
    {
        int maxNew = widths.Max();
        using var cache = model.CreateCache(1, context + maxNew);
        using var masks = new AttentionMaskBuffer(1, Math.Max(maxNew, context), context + maxNew, CPU);
        using var tokens = torch.randint(0, model.Config.VocabSize, [1, context + maxNew], ScalarType.Int64);
        using var positions = torch.arange(0, context + maxNew, ScalarType.Int64).unsqueeze(0);
        using (var scope = NewDisposeScope()) using (model.Forward(tokens.narrow(1, 0, context), positions.narrow(1, 0, context), masks.Causal(0, context), cache)) { }

        double Time(int t)
        {
            using var scope = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            using (model.Forward(tokens.narrow(1, context, t), positions.narrow(1, context, t), masks.Causal(context, t), cache)) { }
            sw.Stop();
            cache.Truncate(context);
            return sw.Elapsed.TotalMilliseconds;
        }

        foreach (var t in widths) Time(t); // warm-up: compiles the forward for every width
        var samples = widths.ToDictionary(t => t, _ => new List<double>());
        var ones = new List<double>();
        for (int r = 0; r < rounds; r++)
            foreach (var t in widths) { ones.Add(Time(1)); samples[t].Add(Time(t)); }
        double one = Median(ones);
        var ms = widths.Select(t => Median(samples[t])).ToArray();
        return new Curve { OneMs = one, Ms = ms, Ratios = ms.Select(m => m / one).ToArray() };
    }

    private static double Median(List<double> xs) { var s = xs.OrderBy(x => x).ToList(); return s[s.Count / 2]; }
    private static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
}
