using System.Diagnostics;
using System.Globalization;
using System.Text;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Loading;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

/// <summary>
/// The verify-cost curve a strategy is priced against: the median time of one cached forward of T new tokens on the
/// (optionally padded) shipped target, as a ratio of one token's — measured interleaved (T = 1 again every round) so
/// load drift cancels. Tree strategies pay off only while accepted tokens per step exceed this ratio for their width.
/// <code>dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- forward-sweep --pad-layers 12 --pad-mlp 8192</code>
/// </summary>
public static class ForwardSweep
{
    public static int Run(string[] args)
    {
        string domain = "english", role = "target"; int padLayers = 0, padMlp = 0, rounds = 7, context = 64; int threads = 1;
        string? outDir = null; var dtype = ScalarType.Float32; bool eager = false;
        var widths = new List<int> { 1, 2, 3, 4, 6, 8, 10, 12, 16, 24, 32 };
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--domain": domain = Next(); break;
                case "--role": role = Next(); break;
                case "--pad-layers": padLayers = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--pad-mlp": padMlp = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--context": context = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--widths": widths = Next().Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList(); break;
                case "--out": outDir = Next(); break;
                case "--dtype": dtype = StrategyBenchmark.ParseDType(Next()); break;
                case "--eager": eager = true; break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        torch.set_num_threads(threads);
        using var _ = no_grad();
        var family = Path.Combine(StrategyBenchmark.RepoRoot(), "models", domain);
        using var loaded = PretrainedModel.Load(Path.Combine(family, role), CPU, dtype);
        using var padded = padLayers > 0 ? PaddedModel.Pad(loaded.Model, padLayers, Math.Max(padMlp, loaded.Config.IntermediateSize)) : null;
        var model = padded ?? loaded.Model;
        model.CompiledForwardEnabled = !eager;
        int maxNew = widths.Max();
        using var cache = model.CreateCache(1, context + maxNew);
        using var masks = new AttentionMaskBuffer(1, Math.Max(maxNew, context), context + maxNew, CPU);
        var tokens = torch.randint(0, model.Config.VocabSize, [1, context + maxNew], ScalarType.Int64).DetachFromDisposeScope();
        var positions = torch.arange(0, context + maxNew, ScalarType.Int64).unsqueeze(0).DetachFromDisposeScope();
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

        foreach (var t in widths) Time(t); // warm-up
        var samples = widths.ToDictionary(t => t, _ => new List<double>());
        var ones = new List<double>();
        for (int r = 0; r < rounds; r++)
            foreach (var t in widths) { ones.Add(Time(1)); samples[t].Add(Time(t)); }
        double one = Median(ones);
        var md = new StringBuilder();
        long parameters = PaddedModel.Parameters(model);
        md.AppendLine($"# Verify cost by width: {domain} {role}{(padded is null ? "" : ", padded")} ({parameters / 1e6:F1}M parameters)").AppendLine();
        md.AppendLine($"Command: `dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- forward-sweep {string.Join(' ', args)}` " +
                      $"({DateTime.UtcNow:yyyy-MM-dd HH:mm}Z, {threads} torch thread(s), {AutoDType.Name(dtype)}{(eager ? ", eager modules" : ", compiled forward")}, cache holding {context} tokens, load `{Load()}`; CPU: {Machine.Cpu}).").AppendLine();
        md.AppendLine($"Median of {rounds} rounds; a T=1 forward is timed before every sample and the ratio is against their median ({one:F1} ms).").AppendLine();
        md.AppendLine("| new tokens T | median ms | cost vs T=1 | ms per token |").AppendLine("| ---: | ---: | ---: | ---: |");
        foreach (var t in widths)
        {
            double m = Median(samples[t]);
            md.AppendLine(CultureInfo.InvariantCulture, $"| {t} | {m:F1} | {m / one:F2}x | {m / t:F1} |");
        }
        Console.WriteLine(md.ToString());
        if (outDir is not null) File.WriteAllText(Path.Combine(outDir, $"forward-sweep-{domain}{(role == "target" ? "" : "-" + role)}{(padded is null ? "" : "-padded")}{(dtype == ScalarType.Float32 ? "" : "-" + AutoDType.Name(dtype))}.md"), md.ToString());
        return 0;
    }

    private static double Median(List<double> xs) { var s = xs.OrderBy(x => x).ToList(); return s[s.Count / 2]; }
    private static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
}
