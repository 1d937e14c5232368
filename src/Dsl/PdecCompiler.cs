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
    /// <param name="readFile">Reads a file a strategy names (a JSON Schema, a GBNF grammar), given its path resolved against
    /// <paramref name="path"/>'s directory; null when it does not exist. The generator reads AdditionalFiles, the CLI and
    /// the interpreter the disk. Without one, a strategy that names a file is an error (PDEC1051).</param>
    public static CompileResult Compile(string text, string path = "", PrimitiveLibrary? library = null, System.Func<string, string?>? readFile = null) =>
        Compile(SyntaxTree.Parse(text, path), library, readFile);

    /// <param name="library">The primitives strategies may name; <see cref="PrimitiveLibrary.Default"/> unless an app adds its own.</param>
    public static CompileResult Compile(SyntaxTree tree, PrimitiveLibrary? library = null, System.Func<string, string?>? readFile = null)
    {
        var diagnostics = new DiagnosticBag(tree.Text);
        diagnostics.AddRange(tree.Diagnostics);
        var plans = new List<DecodePlan>();
        var names = new HashSet<string>();
        // Strategies are bound on demand, so one may name another (later in the file) as the engine of its draft.
        var scope = new StrategyScope(tree, library, readFile);
        foreach (StrategySyntax strategy in tree.Root.Strategies)
        {
            bool duplicate = !strategy.Identifier.IsMissing && !names.Add(strategy.Identifier.Text);
            if (duplicate)
            {
                diagnostics.Report(DiagnosticDescriptors.DuplicateName, strategy.Identifier.Span, strategy.Identifier.Text, "strategy", "this file");
            }

            StrategyScope.Entry entry = scope.Bind(strategy);
            diagnostics.AddRange(entry.Diagnostics);
            if (!entry.HasErrors && !duplicate)
            {
                plans.Add(entry.Plan);
            }
        }

        return new CompileResult(
            plans.ToEquatableArray(),
            diagnostics.OrderBy(d => d.Span.Start).ThenBy(d => d.Id, System.StringComparer.Ordinal).ToEquatableArray());
    }
}
