using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using Pardec.Dsl;
using Pardec.Dsl.Collections;
using Pardec.Dsl.Plan;
using Pardec.Generators.Model;

namespace Pardec.Generators;

/// <summary>
/// Compiles every <c>*.pdec</c> AdditionalFile into a specialised decoder class per strategy. Like the Regex generator,
/// it owns no parser: <c>src/Dsl</c> is compiled in. The pipeline is: file text → <see cref="PdecCompiler"/> →
/// an equatable <see cref="FileSpec"/> (plans + diagnostics, no symbols) → emit. Diagnostics and source are separate
/// outputs, so a file with an error still reports it and other files still generate.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class PdecGenerator : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        // Files a strategy's constraint names (a JSON Schema, a GBNF grammar) are AdditionalFiles too: their texts, by
        // path, so a .pdec compiles against exactly what the project ships (an edit to one recompiles the strategies).
        var constraintFiles = context.AdditionalTextsProvider
            .Where(static file => !file.Path.EndsWith(".pdec", System.StringComparison.OrdinalIgnoreCase))
            .Select(static (file, cancellationToken) => new AdditionalFileSpec(Normalize(file.Path), file.GetText(cancellationToken)?.ToString() ?? string.Empty))
            .Collect()
            .Select(static (all, _) => all.OrderBy(f => f.Path, System.StringComparer.Ordinal).ToEquatableArray())
            .WithTrackingName(TrackingNames.ConstraintFiles);

        var files = context.AdditionalTextsProvider
            .Where(static file => file.Path.EndsWith(".pdec", System.StringComparison.OrdinalIgnoreCase))
            .Combine(constraintFiles)
            .Select(static (pair, cancellationToken) =>
            {
                var (file, others) = pair;
                string text = file.GetText(cancellationToken)?.ToString() ?? string.Empty;
                var result = PdecCompiler.Compile(text, file.Path, readFile: path => others.FirstOrDefault(f => f.Path == Normalize(path))?.Text);
                return new FileSpec(file.Path, result.Plans, result.Diagnostics);
            })
            .WithTrackingName(TrackingNames.Compiled);

        var ns = context.AnalyzerConfigOptionsProvider
            .Select(static (options, _) =>
                options.GlobalOptions.TryGetValue("build_property.PardecNamespace", out var n) && !string.IsNullOrWhiteSpace(n) ? n
                : options.GlobalOptions.TryGetValue("build_property.RootNamespace", out var r) && !string.IsNullOrWhiteSpace(r) ? r + ".Strategies"
                : "Pardec.Generated")
            .WithTrackingName(TrackingNames.Namespace);

        var decoders = files.Combine(ns).WithTrackingName(TrackingNames.Combined);
        context.RegisterSourceOutput(decoders, static (spc, pair) => EmitFile(spc, pair.Left, pair.Right));

        var registry = files.Select(static (f, _) => f.Plans).Collect().Combine(ns).WithTrackingName(TrackingNames.Registry);
        context.RegisterSourceOutput(registry, static (spc, pair) =>
        {
            var plans = pair.Left.SelectMany(p => p).OrderBy(p => p.Name, System.StringComparer.Ordinal).ToImmutableArray();
            spc.AddSource("GeneratedStrategies.g.cs", EmitRegistry(plans, pair.Right));
        });

        // The attributed form: [Strategy] partial classes, read into plain specs and compiled by the same front end.
        context.RegisterPostInitializationOutput(static post =>
        {
            post.AddEmbeddedAttributeDefinition();
            post.AddSource("Pardec.Attributes.g.cs", AttributesSource);
        });
        var classes = context.SyntaxProvider
            .ForAttributeWithMetadataName(StrategyAttributeName, static (node, _) => node is ClassDeclarationSyntax, ParseStrategyClass)
            .WithTrackingName(TrackingNames.StrategyClass)
            .Select(static (spec, cancellationToken) => CompileStrategyClass(spec, cancellationToken))
            .WithTrackingName(TrackingNames.CompiledClass);
        context.RegisterSourceOutput(classes, static (spc, output) => EmitStrategyClass(spc, output));
    }

    private static string Normalize(string path) => Pardec.Dsl.Binding.Binder.ResolvePath(string.Empty, path.Replace('\\', '/'));

    private static void EmitStrategyClass(SourceProductionContext context, StrategyClassOutput output)
    {
        foreach (var diagnostic in output.Diagnostics) context.ReportDiagnostic(diagnostic.ToRoslyn());
        string hint = output.Namespace + "." + output.ClassName;
        if (output.ClassPartSource is { } part) context.AddSource(hint + ".Strategy.g.cs", part);
        if (output.DecoderSource is { } decoder) context.AddSource(hint + "Decoder.g.cs", decoder);
    }

    private static void EmitFile(SourceProductionContext context, FileSpec file, string ns)
    {
        foreach (var diagnostic in file.Diagnostics) context.ReportDiagnostic(DiagnosticMapping.ToRoslyn(diagnostic));
        foreach (var plan in file.Plans)
        {
            var emitted = Emit(plan, ns);
            if (emitted.FallbackReason is { } reason)
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticMapping.InterpreterFallback,
                    Location.Create(file.Path, new TextSpan(0, 0), new LinePositionSpan(default, default)), plan.Name, reason));
            context.AddSource(plan.Name + "Decoder.g.cs", emitted.Source);
        }
    }

    /// <summary>Names of the pipeline's steps, for incremental-caching tests.</summary>
    public static class TrackingNames
    {
        public const string Compiled = nameof(Compiled);
        public const string ConstraintFiles = nameof(ConstraintFiles);
        public const string Namespace = nameof(Namespace);
        public const string Combined = nameof(Combined);
        public const string Registry = nameof(Registry);
        public const string StrategyClass = nameof(StrategyClass);
        public const string CompiledClass = nameof(CompiledClass);
    }
}

/// <summary>An AdditionalFile that is not a .pdec file (a schema or grammar a constraint may name): its path and text.</summary>
public sealed record AdditionalFileSpec(string Path, string Text);

/// <summary>Everything the emitter needs from one file: plain, equatable data.</summary>
public sealed record FileSpec(string Path, EquatableArray<DecodePlan> Plans, EquatableArray<Pardec.Dsl.Diagnostics.Diagnostic> Diagnostics);
