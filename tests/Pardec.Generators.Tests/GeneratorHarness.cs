using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace Pardec.Generators.Tests;

/// <summary>Runs <see cref="PdecGenerator"/> offline over in-memory C# and .pdec inputs.</summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Preview);

    // Pardec.Dsl is also compiled into the generator, so it is found by file name rather than through a type.
    public static readonly ImmutableArray<MetadataReference> References = Net100.References.All.Cast<MetadataReference>()
        .Concat(new MetadataReference[]
        {
            MetadataReference.CreateFromFile(typeof(Pardec.Runtime.Decoding.IDecoder).Assembly.Location),
            MetadataReference.CreateFromFile(Path.Combine(AppContext.BaseDirectory, "Pardec.Dsl.dll")),
            MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location),
        })
        .ToImmutableArray();

    public static string RepoRoot { get; } = FindRepoRoot();

    public static IReadOnlyList<AdditionalText> LibraryFiles() =>
        Directory.GetFiles(Path.Combine(RepoRoot, "strategies"), "*.pdec").OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => (AdditionalText)new InMemoryText("strategies/" + Path.GetFileName(p), File.ReadAllText(p))).ToList();

    public static AdditionalText LibraryFile(string name) => LibraryFiles().Single(f => f.Path == "strategies/" + name);

    public static CSharpCompilation Compilation(params string[] sources) => CSharpCompilation.Create(
        "Consumer",
        sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: "src/File" + i + ".cs")),
        References,
        new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, deterministic: true)
            // The SDK's defaults: the runtime was built against a newer servicing build of net10 than the reference pack.
            .WithSpecificDiagnosticOptions(new Dictionary<string, ReportDiagnostic> { ["CS1701"] = ReportDiagnostic.Suppress, ["CS1702"] = ReportDiagnostic.Suppress }));

    public static GeneratorDriver Driver(IEnumerable<AdditionalText> texts) => CSharpGeneratorDriver.Create(
        new[] { new PdecGenerator().AsSourceGenerator() }, texts, ParseOptions, optionsProvider: null,
        driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator once; returns the compilation with generated sources and the run result.</summary>
    public static (Compilation Output, GeneratorDriverRunResult Result, GeneratorDriver Driver) Run(IEnumerable<AdditionalText> texts, params string[] sources)
    {
        var driver = Driver(texts).RunGeneratorsAndUpdateCompilation(Compilation(sources), out var output, out _);
        return (output, driver.GetRunResult(), driver);
    }

    /// <summary>Diagnostics of the compiled output at warning level or above (generator's and compiler's).</summary>
    public static IReadOnlyList<Diagnostic> Problems(Compilation output, GeneratorDriverRunResult result) =>
        result.Diagnostics.Concat(output.GetDiagnostics())
            .Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();

    public static string Generated(GeneratorDriverRunResult result, string hintName) =>
        result.Results.Single().GeneratedSources.Single(s => s.HintName == hintName).SourceText.ToString();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (Directory.Exists(Path.Combine(dir.FullName, "strategies")) && File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("No repository root above " + AppContext.BaseDirectory);
    }
}

internal sealed class InMemoryText(string path, string text) : AdditionalText
{
    private readonly SourceText _text = SourceText.From(text);

    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
}

/// <summary>
/// Test sources mark each expected diagnostic inline, <c>{|PDEC2001:Name|}</c>: <see cref="Parse"/> strips the marks and
/// returns the id and exact span of each, so a test pins both.
/// </summary>
internal static partial class Markup
{
    public static (string Source, IReadOnlyList<(string Id, TextSpan Span)> Expected) Parse(string marked)
    {
        var expected = new List<(string, TextSpan)>();
        var text = new System.Text.StringBuilder();
        int last = 0;
        foreach (Match m in Mark().Matches(marked))
        {
            text.Append(marked, last, m.Index - last);
            expected.Add((m.Groups["id"].Value, new TextSpan(text.Length, m.Groups["text"].Length)));
            text.Append(m.Groups["text"].Value);
            last = m.Index + m.Length;
        }
        text.Append(marked, last, marked.Length - last);
        return (text.ToString(), expected);
    }

    [GeneratedRegex(@"\{\|(?<id>[A-Z]+\d+):(?<text>.*?)\|\}", RegexOptions.Singleline)]
    private static partial Regex Mark();
}
