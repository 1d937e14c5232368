using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Binding;
using Pardec.Dsl.Collections;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
using Pardec.Dsl.Syntax;

namespace Pardec.Dsl;

/// <summary>The plans of a file (only strategies without errors) and every diagnostic, in source order.</summary>
public sealed record CompileResult(EquatableArray<DecodePlan> Plans, EquatableArray<Diagnostic> Diagnostics)
{
    public bool HasErrors => Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
}

/// <summary>The front end's entry point: text → syntax tree → bound strategies → <see cref="DecodePlan"/>s.</summary>
public static class PdecCompiler
{
    public static CompileResult Compile(string text, string path = "", PrimitiveLibrary? library = null) => Compile(SyntaxTree.Parse(text, path), library);

    /// <param name="library">The primitives strategies may name; <see cref="PrimitiveLibrary.Default"/> unless an app adds its own.</param>
    public static CompileResult Compile(SyntaxTree tree, PrimitiveLibrary? library = null)
    {
        var diagnostics = new DiagnosticBag(tree.Text);
        diagnostics.AddRange(tree.Diagnostics);
        var plans = new List<DecodePlan>();
        var names = new HashSet<string>();
        foreach (StrategySyntax strategy in tree.Root.Strategies)
        {
            int before = diagnostics.Count;
            if (!strategy.Identifier.IsMissing && !names.Add(strategy.Identifier.Text))
            {
                diagnostics.Report(DiagnosticDescriptors.DuplicateName, strategy.Identifier.Span, strategy.Identifier.Text, "strategy", "this file");
            }

            BoundStrategy bound = Binder.Bind(strategy, diagnostics, library);
            bool hasErrors = diagnostics.Skip(before).Any(d => d.Severity == DiagnosticSeverity.Error)
                || tree.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error && strategy.Span.Contains(d.Span));
            if (!hasErrors)
            {
                plans.Add(bound.Lower());
            }
        }

        return new CompileResult(
            plans.ToEquatableArray(),
            diagnostics.OrderBy(d => d.Span.Start).ThenBy(d => d.Id, System.StringComparer.Ordinal).ToEquatableArray());
    }
}
