using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
using Pardec.Dsl.Syntax;

namespace Pardec.Dsl.Binding;

/// <summary>
/// Composition: a strategy of the same file as the engine of a draft (<c>draft(draft, length: 8, engine: Inner)</c>),
/// after "Accelerating LLM Inference with Staged Speculative Decoding" (Spector and Re). The engine is bound like any
/// strategy — its own guarantee, canvas and rules are checked where it is declared — and then checked for what an
/// engine runs: one causal step on the draft model, drafting greedily, with nothing updated after its steps.
/// </summary>
public sealed partial class Binder
{
    /// <summary><c>Inner</c> or <c>Inner(role: model, ...)</c>: the named strategy, bound, with its role bindings as written.</summary>
    private EngineBinding? BindEngine(ExpressionSyntax syntax, string what)
    {
        SyntaxToken? identifier = syntax switch
        {
            NameExpressionSyntax n => n.Identifier,
            CallExpressionSyntax { Receiver: null } c => c.Identifier,
            _ => null,
        };
        if (identifier is null)
        {
            if (!IsMissing(syntax))
            {
                Report(DiagnosticDescriptors.TypeMismatch, syntax.Span, what, "a strategy name such as Inner or Inner(draft: tiny)", $"'{Text(syntax)}'", Describe(syntax));
            }

            return null;
        }

        string name = identifier.Text;
        StrategyScope.Entry? entry = null;
        string? cycle = null;
        if (name == _strategy.Name)
        {
            cycle = name + " -> " + name;
        }
        else if (_scope is not null)
        {
            entry = _scope.Find(name, out cycle);
        }

        if (cycle is not null)
        {
            Report(DiagnosticDescriptors.EngineCycle, identifier.Span, _strategy.Name, name, cycle);
            return null;
        }

        if (entry is null)
        {
            string[] others = (_scope?.Names ?? Enumerable.Empty<string>()).Where(n => n != _strategy.Name).ToArray();
            string list = others.Length == 0 ? $"no other strategy is declared in this file" : $"strategies of this file: {string.Join(", ", others)}";
            Report(DiagnosticDescriptors.UnknownName, identifier.Span, "strategy", name, list, NameSuggester.Hint(name, others));
            return null;
        }

        if (entry.HasErrors)
        {
            Report(DiagnosticDescriptors.EngineNotUsable, identifier.Span, name, _strategy.Name, "it has errors of its own (reported where it is declared)");
            return null;
        }

        // Role bindings: every argument names a role of the engine and the outer model that plays it.
        var written = new List<RoleBinding>();
        DecodePlan plan = entry.Plan;
        foreach (ArgumentSyntax argument in ArgumentsOf(syntax))
        {
            if (IsMissing(argument))
            {
                continue;
            }

            string[] roles = plan.Models.Where(m => m.Kind == ModelKind.Causal && m.Role != VerifyModel(plan)).Select(m => m.Role).ToArray();
            ModelPlan? role = argument.Name is null ? null : plan.Models.FirstOrDefault(m => m.Role == argument.Name.Text && m.Kind == ModelKind.Causal && m.Role != VerifyModel(plan));
            if (role is null)
            {
                string given = argument.Name?.Text ?? Text(argument);
                Report(DiagnosticDescriptors.UnknownArgument, (argument.Name ?? (SyntaxNode)argument).Span, name, given,
                    (roles.Length == 0 ? "(none)" : string.Join(", ", roles)) + $" (the causal roles of '{name}' other than its verify target '{VerifyModel(plan)}', which is the draft's model; bind them as role: model)",
                    NameSuggester.Hint(given, roles));
                continue;
            }

            if (written.Any(w => w.Role == role.Role))
            {
                Report(DiagnosticDescriptors.DuplicateArgument, argument.Span, role.Role, name);
                continue;
            }

            if (argument.Value is NameExpressionSyntax model && BindModelReference(model.Identifier, new[] { ModelKind.Causal }, $"role '{role.Role}' of the engine '{name}'") is { } outer)
            {
                written.Add(new RoleBinding(role.Role, outer));
            }
            else if (argument.Value is not NameExpressionSyntax && !IsMissing(argument.Value))
            {
                Report(DiagnosticDescriptors.TypeMismatch, argument.Value.Span, $"role '{role.Role}' of the engine '{name}'", "a model name", $"'{Text(argument.Value)}'", Describe(argument.Value));
            }
        }

        return new EngineBinding(name, plan, written);
    }

    private static string VerifyModel(DecodePlan plan) => plan.Step is CausalStepPlan causal ? causal.Verify.Model : string.Empty;

    /// <summary>
    /// Checks what running <paramref name="engine"/> on the draft model <paramref name="model"/> needs, and binds its
    /// roles: the verify target is the draft's model; every other causal role is bound as written, else to the outer
    /// model of the same name. Returns false (after reporting) when the engine cannot run there.
    /// </summary>
    private bool CompleteEngine(EngineBinding engine, string model, ExpressionSyntax at)
    {
        DecodePlan plan = engine.Plan;
        string? Why()
        {
            if (plan.Canvas.Kind != CanvasKind.Causal || plan.Step is not CausalStepPlan step)
            {
                return "its canvas is masked; an engine runs causal steps on the draft model";
            }

            if (plan.Canvas.Batch is not null)
            {
                return "its canvas is batched; an engine drafts one sequence";
            }

            foreach (PrimitiveInstance instance in step.Instances)
            {
                string written = instance.Primitive;
                if (instance.NeedsHidden)
                {
                    return $"'{written}' reads the verifier's hidden states, which the draft model's verification does not keep";
                }

                if (!instance.Bindings.IsEmpty || !instance.Updates.IsEmpty)
                {
                    return $"its state is updated after each step ('{string.Join("', '", step.Updates)}'), which an engine's steps do not do";
                }

                if (instance.ProvidesDistributions)
                {
                    return $"'{written}' samples, but an engine drafts greedily (the draft it yields keeps no q(x))";
                }

                if (!instance.Options.IsEmpty)
                {
                    return $"'{written}' sets {string.Join(", ", instance.Options.Select(o => o.Option.ToLowerInvariant()))}, but an engine drafts greedily";
                }
            }

            if (step.Accept is RejectionAccept)
            {
                return "'accept rejection' samples, but an engine drafts greedily; use 'accept greedy' (or a lossy rule)";
            }

            return null;
        }

        if (Why() is { } why)
        {
            Report(DiagnosticDescriptors.EngineNotUsable, at.Span, engine.Name, _strategy.Name, why);
            return false;
        }

        bool ok = true;
        foreach (ModelPlan role in plan.Models.Where(m => m.Kind == ModelKind.Causal))
        {
            if (role.Role == VerifyModel(plan))
            {
                engine.Roles[role.Role] = model;
            }
            else if (engine.Written.FirstOrDefault(w => w.Role == role.Role) is { } binding)
            {
                engine.Roles[role.Role] = binding.Model;
            }
            else if (_strategy.Models.FirstOrDefault(m => m.Role == role.Role) is { Kind: ModelKind.Causal })
            {
                engine.Roles[role.Role] = role.Role;
            }
            else
            {
                Report(DiagnosticDescriptors.MissingArgument, at.Span, engine.Name, role.Role,
                    $"the outer model that plays the engine's role '{role.Role}' ('{engine.Name}({role.Role}: m)'); '{_strategy.Name}' has no causal model of that name");
                ok = false;
            }
        }

        if (ok && !_strategy.Engines.Any(e => e.Name == engine.Name))
        {
            _strategy.Engines.Add(engine);
        }

        return ok;
    }
}
