using System.Collections;
using System.Reflection;
using Microsoft.CodeAnalysis;

namespace Pardec.Generators.Tests;

/// <summary>
/// System.Text.Json's SourceGenModelDoesNotEncapsulateSymbolsOrCompilationData: a symbol, syntax node or compilation in
/// a pipeline value compares by reference, so caching silently stops working; walk every recorded value to be sure.
/// </summary>
public sealed class PipelineModelTests
{
    private static readonly string[] StepNames = typeof(PdecGenerator.TrackingNames)
        .GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (string)f.GetValue(null)!).ToArray();

    [Fact]
    public void No_tracked_pipeline_value_holds_a_symbol_syntax_node_semantic_model_or_compilation()
    {
        var (_, result, _) = GeneratorHarness.Run(GeneratorHarness.LibraryFiles(), Samples.RepeatLookup, Samples.Unrelated);
        var steps = result.Results.Single().TrackedSteps;

        foreach (string name in StepNames)
        {
            Assert.True(steps.ContainsKey(name), "step " + name + " was not recorded");
            foreach (var step in steps[name])
                foreach (var (value, _) in step.Outputs)
                    Assert.Null(FindForbidden(value, name));
        }
    }

    [Fact]
    public void The_walk_finds_a_symbol_hidden_inside_a_record()
    {
        var symbol = GeneratorHarness.Compilation(Samples.Unrelated).GetTypeByMetadataName("Demo.Unrelated")!;

        Assert.NotNull(FindForbidden(new Holder(new[] { new Holder(Array.Empty<Holder>(), null) }, (1, symbol)), "test"));
    }

    private sealed record Holder(Holder[] Children, object? Payload);

    /// <summary>The path to the first forbidden object reachable from <paramref name="value"/>, or null.</summary>
    private static string? FindForbidden(object? value, string path) => Walk(value, path, new HashSet<object>(ReferenceEqualityComparer.Instance));

    private static string? Walk(object? value, string path, HashSet<object> seen)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum || value is decimal) return null;
        if (value is ISymbol or SyntaxNode or SemanticModel or Compilation or SyntaxTree) return path + " : " + value.GetType().Name;
        if (!value.GetType().IsValueType && !seen.Add(value)) return null;
        if (value is IEnumerable items)
        {
            int i = 0;
            foreach (var item in items)
                if (Walk(item, path + "[" + i++ + "]", seen) is { } found) return found;
        }
        var type = value.GetType();
        foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
            if (Walk(field.GetValue(value), path + "." + field.Name, seen) is { } found) return found;
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0))
            if (Walk(property.GetValue(value), path + "." + property.Name, seen) is { } found) return found;
        return null;
    }
}
