using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Pardec.Dsl;
using Pardec.Dsl.Collections;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
using Pardec.Generators.Model;
using DslSeverity = Pardec.Dsl.Diagnostics.DiagnosticSeverity;
using RoslynSeverity = Microsoft.CodeAnalysis.DiagnosticSeverity;

namespace Pardec.Generators;

public sealed partial class PdecGenerator
{
    /// <summary>
    /// Compiles a <c>[Strategy]</c> class with the same front end as a .pdec file (via <see cref="StrategyBuilder"/>) and
    /// emits it with the same emitter; front-end diagnostics are mapped back to the attribute argument they came from.
    /// The output is plain text, so an unchanged spec means nothing downstream runs again.
    /// </summary>
    internal static StrategyClassOutput CompileStrategyClass(StrategyClassSpec spec, CancellationToken cancellationToken)
    {
        var diagnostics = new List<DiagnosticSpec>(spec.Diagnostics);
        var builder = new StrategyBuilder(spec.ClassName);
        foreach (var line in spec.Members) builder.Member(line.Text, line.Location);
        foreach (var line in spec.Statements) builder.Statement(line.Text, line.Location);
        var built = builder.Build(spec.ClassLocation.Path);
        var result = built.Compile();
        foreach (var d in result.Diagnostics)
        {
            // The built text exists only in memory: a diagnostic is reported at the argument (or member) that wrote its line.
            var location = built.OriginOf(d) as LocationSpec ?? spec.ClassLocation;
            diagnostics.Add(new DiagnosticSpec(d.Id, d.Descriptor.Title, Severity(d.Severity), d.Message, location));
        }
        cancellationToken.ThrowIfCancellationRequested();

        string? decoder = null, part = null;
        // The class's part (its role properties, its hooks' proposers) is emitted whenever the class can hold one, errors
        // or not — as the Regex generator emits a fallback — so a strategy with a PDEC error shows that error alone, not
        // CS9248 for every role property left without an implementation. Only a class that is not partial, or not a
        // top-level class, cannot take a part (PDEC2001, PDEC2003).
        if (!spec.Diagnostics.Any(d => d.Id == GeneratorDiagnostics.NotPartial.Id || d.Id == GeneratorDiagnostics.ClassShape.Id))
            part = EmitStrategyClassPart(spec);
        bool readable = !spec.Diagnostics.Any(d => d.Severity == RoslynSeverity.Error);
        if (readable && result.Plans.Count == 1)
        {
            var plan = result.Plans[0];
            if (spec.Hooks.IsEmpty)
            {
                var emitted = Emit(plan, spec.Namespace);
                decoder = emitted.Source;
                if (emitted.FallbackReason is { } reason)
                    diagnostics.Add(DiagnosticSpec.Create(DiagnosticMapping.InterpreterFallback, spec.ClassLocation, plan.Name, reason));
            }
            else
            {
                decoder = EmitWithHooks(spec, plan, diagnostics);
            }
        }
        return new StrategyClassOutput(spec.Namespace, spec.ClassName, decoder, part, diagnostics.ToArray());
    }

    /// <summary>
    /// Hooks are C#, not plan text, so they are not in the printed plan; but they are ordinary primitive instances of the
    /// step: one per hook, of the nested proposer type the class's part declares, placed after the declared proposers
    /// and emitted like any other (a field named by the hook, <c>Reset</c>/<c>Propose</c>/<c>Observe</c> in the loop).
    /// The verify width grows by the hooks' maximum lengths, so the tree, verifier and acceptance buffers are sized for them.
    /// </summary>
    private static string? EmitWithHooks(StrategyClassSpec spec, DecodePlan plan, List<DiagnosticSpec> diagnostics)
    {
        string? problem = plan.Step is not CausalStepPlan step ? "has a " + plan.Canvas.Kind.ToString().ToLowerInvariant() + " canvas"
            : plan.Canvas.Batch is not null ? "decodes a batch"
            : step.Accept is RejectionAccept ? "uses 'accept rejection', which needs the draft distribution q that a hook does not give"
            : null;
        string? source = null;
        if (problem is null)
        {
            var causal = (CausalStepPlan)plan.Step;
            int hookWidth = spec.Hooks.Sum(h => h.MaxLength);
            var taken = new HashSet<string>(causal.Instances.Select(i => i.Field));
            var hooks = spec.Hooks.Select(h => new PrimitiveInstance(
                h.Method, PrimitiveRole.Proposer, Unique(Snake(h.Method) + "_hook", taken),
                (spec.Namespace.Length == 0 ? string.Empty : spec.Namespace + ".") + spec.ClassName + "." + HookType(h),
                EquatableArray<InstanceArgument>.Empty)).ToList();
            int accept = causal.Instances.ToList().FindIndex(i => i.Role == PrimitiveRole.Acceptance);
            var instances = causal.Instances.Take(accept).Concat(hooks).Concat(causal.Instances.Skip(accept)).ToEquatableArray();
            // Each hook adds a chain under the root; next to any other proposer that makes the candidates a tree.
            var mode = causal.Proposers.Count + spec.Hooks.Count > 1 ? VerifyMode.Tree : causal.Verify.Mode;
            var verify = causal.Verify with { Mode = mode, Width = causal.Verify.Width + hookWidth, MaxWidth = System.Math.Max(causal.Verify.MaxWidth, causal.Verify.Width + hookWidth) };
            var widened = plan with { Step = causal with { Verify = verify, Instances = instances } };
            var emitted = Emit(widened, spec.Namespace);
            if (emitted.FallbackReason is { } reason) problem = "runs on the plan interpreter (" + reason + ")";
            else source = emitted.Source;
        }
        if (problem is null) return source;
        foreach (var hook in spec.Hooks)
            diagnostics.Add(DiagnosticSpec.Create(GeneratorDiagnostics.HookNotSpecialised, hook.Location, hook.Method, spec.ClassName, problem));
        return null;
    }

    private static string Unique(string name, HashSet<string> taken)
    {
        string candidate = name;
        for (int i = 2; !taken.Add(candidate); i++) candidate = name + i.ToString(CultureInfo.InvariantCulture);
        return candidate;
    }

    private static string HookType(HookSpec hook) => hook.Method + "Hook";

    /// <summary>The generator's part of the user's class: role properties and one sealed proposer per hook.</summary>
    internal static string EmitStrategyClassPart(StrategyClassSpec spec)
    {
        const string Prim = "global::Pardec.Runtime.Primitives";
        var w = new SourceWriter();
        w.Line("// <auto-generated/>");
        w.Line("// Generated by Pardec.Generators from the [Strategy] class '" + spec.ClassName + "'. Do not edit.");
        w.Line("#nullable enable");
        w.Line();
        w.Open("namespace " + spec.Namespace);
        w.Open("partial class " + spec.ClassName);
        foreach (var role in spec.Roles)
        {
            w.Line("/// <summary>The model role <c>" + role.Role + "</c>: bind a model to it by this name.</summary>");
            w.Line(role.Modifiers + " static partial string " + role.Property + " => \"" + role.Role + "\";");
            w.Line();
        }
        foreach (var hook in spec.Hooks)
        {
            string max = hook.MaxLength.ToString(CultureInfo.InvariantCulture);
            // The hook is named through its class: inside this proposer a bare 'Propose' would be the proposer's own.
            string owner = "global::" + (spec.Namespace.Length == 0 ? string.Empty : spec.Namespace + ".") + spec.ClassName;
            w.Line("/// <summary>Calls <see cref=\"" + hook.Method + "\"/> each step and adds what it writes as one chain under the root.</summary>");
            w.Line("[global::System.CodeDom.Compiler.GeneratedCode(\"Pardec.Generators\", \"1.0.0\")]");
            w.Open("internal sealed class " + HookType(hook) + " : " + Prim + ".Proposers.IProposer");
            w.Line("public const int MaxLength = " + max + ";");
            if (hook.IsType) w.Line("private readonly " + owner + "." + hook.Method + " _hook = new " + owner + "." + hook.Method + "();");
            w.Line();
            w.Line("public bool NeedsHidden => false;");
            w.Line("public bool HasDistributions => false;");
            w.Line();
            w.Line("public void Reset(" + Prim + ".CausalContext context)" + (hook.HasReset ? " => _hook.Reset(context.Tokens);" : " { }"));
            w.Line();
            w.Open("public void Propose(" + Prim + ".CausalContext context, " + Prim + ".CandidateTree tree, int source)");
            w.Line("global::System.Span<int> draft = stackalloc int[MaxLength];");
            w.Line("int count = " + (hook.IsType ? "_hook.Propose" : owner + "." + hook.Method) + "(context.Tokens, draft);");
            w.Line("// A hook that claims more than it could write is clamped: the tree was sized for MaxLength.");
            w.Line("if (count > 0) tree.AddChain(0, draft.Slice(0, global::System.Math.Min(count, MaxLength)), source);");
            w.Close();
            w.Line();
            w.Line("public void Observe(" + Prim + ".CausalContext context, " + Prim + ".CandidateTree tree, " + Prim + ".StepOutcome outcome)"
                   + (hook.HasObserve ? " => _hook.Observe(context.Tokens, outcome.AcceptedCount);" : " { }"));
            w.Line();
            w.Line("public void Dispose() { }");
            w.Close();
            w.Line();
        }
        w.Close();
        w.Close();
        return w.ToString();
    }

    private static RoslynSeverity Severity(DslSeverity severity) => severity switch
    {
        DslSeverity.Error => RoslynSeverity.Error,
        DslSeverity.Warning => RoslynSeverity.Warning,
        _ => RoslynSeverity.Info,
    };
}
