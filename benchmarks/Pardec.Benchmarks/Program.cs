using BenchmarkDotNet.Running;

namespace Pardec.Benchmarks;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- --filter '*Forward*' --job short</c>
/// (add <c>--inProcess</c> to skip the per-benchmark child process build).
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
