using Pardec.Dsl;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Strategies;

namespace Pardec.Cli;

/// <summary>A strategy ready to bind: its plan, and the generated decoder when it comes from the library.</summary>
public sealed record ResolvedStrategy(DecodePlan Plan, GeneratedStrategy? Generated, string Source);

/// <summary>The strategy library compiled into Pardec.Strategies, and .pdec files given on the command line.</summary>
public static class StrategyCatalog
{
    private static readonly Lazy<IReadOnlyList<ResolvedStrategy>> LazyLibrary = new(() =>
        GeneratedStrategies.All.Select(g => new ResolvedStrategy(ParsePrinted(g), g, "library")).ToArray());

    /// <summary>Every library strategy; the plan is re-read from the generated decoder's printed plan (valid .pdec).</summary>
    public static IReadOnlyList<ResolvedStrategy> Library => LazyLibrary.Value;

    /// <summary>A library strategy by name (case-insensitive), or the single strategy of a .pdec file.</summary>
    public static ResolvedStrategy Resolve(string nameOrPath, TextWriter error)
    {
        if (nameOrPath.EndsWith(".pdec", StringComparison.OrdinalIgnoreCase) || File.Exists(nameOrPath))
            return FromFile(nameOrPath, error);
        return FindInLibrary(nameOrPath);
    }

    public static ResolvedStrategy FindInLibrary(string name)
    {
        var match = Library.FirstOrDefault(s => s.Plan.Name == name)
                    ?? Library.FirstOrDefault(s => string.Equals(s.Plan.Name, name, StringComparison.OrdinalIgnoreCase));
        if (match is not null) return match;
        var names = Library.Select(s => s.Plan.Name).ToArray();
        string? nearest = NameSuggester.Nearest(name, names) ?? NearestByPrefix(name, names);
        throw new CliException($"unknown strategy '{name}'" + (nearest is null ? "" : $"; did you mean '{nearest}'?")
                               + " Run 'pardec list' for the library, or pass a .pdec file.");
    }

    /// <summary>Compiles a file; prints its diagnostics exactly as the build does; a file with errors is a failure.</summary>
    public static ResolvedStrategy FromFile(string path, TextWriter error)
    {
        if (!File.Exists(path)) throw new CliException($"file not found: {path}");
        var result = PdecCompiler.Compile(File.ReadAllText(path), path, readFile: ReadFile);
        foreach (var d in result.Diagnostics) error.WriteLine(d.ToString());
        if (result.HasErrors)
            throw new CliException($"{path} has {result.Diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error)} error(s); fix them and run again.");
        // A strategy that only serves as another's draft engine is not a candidate to run (staged speculation).
        var engines = result.Plans.SelectMany(p => p.Engines).Select(e => e.Name).ToHashSet();
        var runnable = result.Plans.Count > 1 ? result.Plans.Where(p => !engines.Contains(p.Name)).ToList() : result.Plans.ToList();
        return runnable.Count switch
        {
            0 => throw new CliException($"{path} declares no strategy."),
            1 => new ResolvedStrategy(runnable[0], null, path),
            _ => throw new CliException($"{path} declares {result.Plans.Count} strategies ({string.Join(", ", result.Plans.Select(p => p.Name))}); "
                                        + "put the one to run in a file of its own, or run a library strategy by name."),
        };
    }

    /// <summary>Reads a file a strategy names (a constraint's schema or grammar), or null when it does not exist.</summary>
    public static string? ReadFile(string path) => File.Exists(path) ? File.ReadAllText(path) : null;

    private static DecodePlan ParsePrinted(GeneratedStrategy generated)
    {
        var result = PdecCompiler.Compile(generated.Plan, generated.Name + ".pdec", readFile: generated.ReadFile);
        // A composed plan prints its engines after itself, so the strategy is the first plan.
        if (result.HasErrors || result.Plans.Count == 0)
            throw new InvalidOperationException($"The printed plan of {generated.Name} does not compile again: "
                                                + string.Join("; ", result.Diagnostics));
        return result.Plans[0];
    }

    // "spec" → "SpeculativeGreedy": a prefix is a better hint than edit distance for short inputs.
    // "Speculitive" → "SpeculativeGreedy": a misspelt prefix is matched against each name cut to its length.
    private static string? NearestByPrefix(string name, string[] names) =>
        name.Length < 3 ? null
        : names.FirstOrDefault(n => n.Contains(name, StringComparison.OrdinalIgnoreCase))
          ?? names.FirstOrDefault(n => n.Length > name.Length && NameSuggester.Nearest(name, [n[..name.Length]]) is not null);
}
