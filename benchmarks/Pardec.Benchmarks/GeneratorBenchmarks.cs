extern alias generator;

using BenchmarkDotNet.Attributes;
using PdecCompiler = generator::Pardec.Dsl.PdecCompiler;
using PdecGenerator = generator::Pardec.Generators.PdecGenerator;

namespace Pardec.Benchmarks;

/// <summary>
/// Generator time per library file: the front end (<c>PdecCompiler.Compile</c>) plus the emitter for every strategy in
/// the file — the work the generator redoes when that file is edited. Roslyn's driver overhead is left out.
/// </summary>
[MemoryDiagnoser]
public class GeneratorBenchmarks
{
    private string _text = string.Empty;

    public static IEnumerable<string> Files() =>
        Directory.GetFiles(Path.Combine(RepoRoot(), "strategies"), "*.pdec").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal);

    [ParamsSource(nameof(Files))]
    public string File { get; set; } = string.Empty;

    [GlobalSetup]
    public void Setup() => _text = System.IO.File.ReadAllText(Path.Combine(RepoRoot(), "strategies", File));

    [Benchmark]
    public int CompileOnly() => PdecCompiler.Compile(_text, File).Plans.Count;

    [Benchmark(Baseline = true)]
    public int CompileAndEmit()
    {
        var result = PdecCompiler.Compile(_text, File);
        int length = 0;
        foreach (var plan in result.Plans) length += PdecGenerator.Emit(plan, "Pardec.Benchmarks.Generated").Source.Length;
        return length;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (Directory.Exists(Path.Combine(dir.FullName, "strategies")) && System.IO.File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("No repository root above " + AppContext.BaseDirectory);
    }
}
