using BenchmarkDotNet.Running;

namespace Pardec.Benchmarks;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- strategies --help</c> for decode strategies; <c>dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- --filter '*Forward*' --job short</c>
/// (add <c>--inProcess</c> to skip the per-benchmark child process build).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // Macro benchmarks of whole decodes have their own harness (ratios measured in one run); the rest is BenchmarkDotNet.
        if (args.Length > 0 && args[0] == "strategies") return StrategyBenchmark.Run(args[1..]);
        if (args.Length > 0 && args[0] == "diffusion") return DiffusionBenchmark.Run(args[1..]);
        if (args.Length > 0 && args[0] == "diffusion-curves") return DiffusionCurves.Run(args[1..]);
        if (args.Length > 0 && args[0] == "block-diffusion") return BlockDiffusionBenchmark.Run(args[1..]);
        if (args.Length > 0 && args[0] == "forward-sweep") return ForwardSweep.Run(args[1..]);
        if (args.Length > 0 && args[0] == "pad-export") return PeerExport.Run(args[1..]);
        if (args.Length > 0 && args[0] == "seeded-checkpoint") return SeededCheckpointCommand.Run(args[1..]);
        if (args.Length > 0 && args[0] == "quantized-decode") return QuantizedDecodeBenchmark.Run(args[1..]);
        if (args.Length > 0 && args[0] == "linear-kernels") return LinearKernelBenchmark.Run(args[1..]);
        if (args.Length > 0 && args[0] == "bandwidth")
        {
            // One line of JSON: this machine's one-thread read bandwidth now (the side-by-side run's denominator).
            TorchSharp.torch.set_num_threads(1);
            var (managed, viaTorch) = QuantizedDecodeBenchmark.ReadBandwidth();
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { tensorPrimitivesSum = managed, torchSum = viaTorch, used = Math.Max(managed, viaTorch) }));
            return 0;
        }
        if (args.Length > 0 && args[0] == "serve-load") return ServeLoadBenchmark.Run(args[1..]);
        if (args.Length > 0 && args[0] == "grammar-masks") return GrammarMaskBenchmark.Run(args[1..]);
        if (args.Length > 0 && args[0] == "constrained") return ConstrainedBenchmark.Run(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
