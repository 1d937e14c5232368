using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Collections;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
using Pardec.Dsl.Trees;

namespace Pardec.Dsl.Binding;

/// <summary>
/// Lowering's last stage for a causal step: each bound primitive becomes a <see cref="PrimitiveInstance"/> by walking
/// its form's constructor arguments and resolving each <see cref="ArgumentSource"/> against the strategy. Mechanical:
/// nothing here knows a primitive by name.
/// </summary>
internal static class PrimitiveResolver
{
    private static readonly HashSet<string> Reserved = new() { "options", "session" };

    public static EquatableArray<PrimitiveInstance> Resolve(BoundStrategy strategy, BoundStep step)
    {
        var instances = new List<PrimitiveInstance>();
        var taken = new HashSet<string>(Reserved);
        var stateFields = new Dictionary<string, string>();

        // The constraint first: it applies to the request before anything runs.
        if (strategy.Constraint is { Form: { } constraintForm } constraint)
        {
            instances.Add(Instance(strategy, step, constraint, constraintForm, Unique("constraint", taken), PrimitiveRole.Constraint, stateFields));
        }

        // States next: a proposer may bind one of its properties to a state's current value.
        AddStates(strategy, step, instances, taken, stateFields);

        var proposerFields = new List<(BoundProposer Proposer, string Field)>();
        foreach (BoundProposer proposer in step.Proposers)
        {
            string name = proposer.Arguments.Values.FirstOrDefault(a => a.Parameter.Kind == ArgKind.Model)?.Value as string
                ?? proposer.Receiver?.Name ?? proposer.Descriptor.Name;
            string field = Unique(name, taken);
            proposerFields.Add((proposer, field));
            if (proposer.Receiver is { } receiver)
            {
                stateFields[receiver.Name] = field; // the pool and its proposer are one runtime object
            }
        }

        foreach (var (proposer, field) in proposerFields)
        {
            instances.Add(Instance(strategy, step, proposer.Primitive, proposer.Form, field, PrimitiveRole.Proposer, stateFields));
        }

        if (step.AcceptPrimitive is { Form: { } acceptForm } accept)
        {
            instances.Add(Instance(strategy, step, accept, acceptForm, Unique("accept", taken), PrimitiveRole.Acceptance, stateFields));
        }

        // Updates that are calls after each step go on the instance that learns (for a pool: its match proposer).
        foreach (UpdatePlan update in step.Updates)
        {
            if (!strategy.StatePrimitives.TryGetValue(update.State, out var state) || !stateFields.TryGetValue(update.State, out var target))
            {
                continue;
            }

            StateUpdate? rule = state.Descriptor.Updates?.FirstOrDefault(u => u.Source == update.Source);
            if (rule?.Call is not { } call)
            {
                continue; // a constructor flag, resolved with the instance's arguments
            }

            string? from = rule.FromPrimitive is { } primitive ? proposerFields.First(p => p.Proposer.Descriptor.Name == primitive).Field : null;
            int index = instances.FindIndex(i => i.Field == target);
            instances[index] = instances[index] with { Updates = instances[index].Updates.Concat(new[] { new InstanceUpdate(update.Source, call, from) }).ToEquatableArray() };
        }

        return instances.ToEquatableArray();
    }

    // Every state with a primitive, under a unique field name that proposers and commit rules can then read.
    private static void AddStates(BoundStrategy strategy, BoundStep step, List<PrimitiveInstance> instances, HashSet<string> taken,
                                  Dictionary<string, string> stateFields)
    {
        foreach (StatePlan state in strategy.States)
        {
            if (strategy.StatePrimitives.TryGetValue(state.Name, out var bound) && bound.Form is { } form)
            {
                string field = Unique(state.Name, taken);
                stateFields[state.Name] = field;
                instances.Add(Instance(strategy, step, bound, form, field, PrimitiveRole.State, stateFields));
            }
        }
    }

    /// <summary>A masked step: its constraint, its states (credits), then the commit rule, which may read one of them.</summary>
    public static EquatableArray<PrimitiveInstance> ResolveMasked(BoundStrategy strategy, BoundStep step)
    {
        var instances = new List<PrimitiveInstance>();
        var taken = new HashSet<string>(Reserved);
        var stateFields = new Dictionary<string, string>();
        if (strategy.Constraint is { Form: { } constraintForm } constraint)
        {
            instances.Add(Instance(strategy, step, constraint, constraintForm, Unique("constraint", taken), PrimitiveRole.Constraint, stateFields));
        }

        AddStates(strategy, step, instances, taken, stateFields);

        if (step.CommitPrimitive is { Form: { } commitForm } commit)
        {
            instances.Add(Instance(strategy, step, commit, commitForm, Unique("rule", taken), PrimitiveRole.Commit, stateFields));
        }

        foreach (UpdatePlan update in step.Updates)
        {
            if (strategy.StatePrimitives.TryGetValue(update.State, out var state) && stateFields.TryGetValue(update.State, out var target)
                && state.Descriptor.Updates?.FirstOrDefault(u => u.Source == update.Source)?.Call is { } call)
            {
                int index = instances.FindIndex(i => i.Field == target);
                instances[index] = instances[index] with { Updates = instances[index].Updates.Concat(new[] { new InstanceUpdate(update.Source, call, null) }).ToEquatableArray() };
            }
        }

        return instances.ToEquatableArray();
    }

    private static string Unique(string name, HashSet<string> taken)
    {
        string candidate = name;
        for (int i = 2; !taken.Add(candidate); i++)
        {
            candidate = name + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return candidate;
    }

    private static PrimitiveInstance Instance(BoundStrategy strategy, BoundStep step, BoundPrimitive bound, PrimitiveForm form, string field, PrimitiveRole role, Dictionary<string, string> stateFields)
    {
        var bindings = new List<StateBinding>();
        var arguments = form.Constructor
            .Select(c => new InstanceArgument(c.Name, Value(strategy, step, bound, c, bindings, stateFields)))
            .ToEquatableArray();
        var options = (bound.Descriptor.Options ?? System.Array.Empty<OptionOverride>())
            .Where(o => bound.Arguments.TryGetValue(o.Parameter, out var a) && a.Value is Expr)
            .Select(o => new OptionValue(o.Option, (Expr)bound.Arguments[o.Parameter].Value))
            .ToEquatableArray();
        bool distributions = bound.Descriptor.ProbabilityFlag is { } flag && bound.Arguments.ContainsKey(flag);
        return new PrimitiveInstance(bound.Descriptor.Name, role, field, form.RuntimeType, arguments, form.CountsDraftForwards, form.NeedsHidden, distributions,
            form.SelectsOnSession, form.Disposable, bindings.ToEquatableArray(), options);
    }

    private static InstanceValue Value(BoundStrategy strategy, BoundStep step, BoundPrimitive bound, ConstructorArgument argument, List<StateBinding> bindings, Dictionary<string, string> stateFields)
    {
        ModelPlan Model(string parameter) =>
            strategy.Models.First(m => m.Role == (string)bound.Arguments[parameter].Value);

        switch (argument.Source)
        {
            case ParamSource p:
                return Param(bound, p.Name, p.Otherwise, argument.Name, bindings, strategy, stateFields);
            case ReceiverArgSource r:
                Expr? value = bound.Receiver?.Arg(r.Name) ?? r.Fallback;
                return value is null ? Missing(bound, argument) : new ExprValue(value, ParamType.Int);
            case TargetOfSource t:
                return new ModelValue(Model(t.Parameter).Target ?? Model(t.Parameter).Role);
            case SkipOfSource s:
                return Model(s.Parameter).Skip is { } skip
                    ? new NewValue("Pardec.Runtime.Models.LayerSkip", new[] { new InstanceArgument("SkippedLayers", new ArrayValue(skip.Layers())) })
                    : new NullValue();
            case HeadsOfSource h:
                return new ExprValue(Model(h.Parameter).Heads ?? Literal.Int(1), ParamType.Int);
            case TreeSource t:
                var tree = (TokenTreeShape)bound.Arguments[t.Parameter].Value;
                return new ArrayValue(t.Array switch
                {
                    TreeArray.Parents => tree.Parents,
                    TreeArray.Depths => tree.Depths,
                    _ => tree.Choices,
                });
            case DraftShapeSource d:
                return bound.Arguments.TryGetValue(d.Parameter, out var shapeArg) && shapeArg.Value is TokenTreeShape shape
                    ? new NewValue("Pardec.Runtime.Primitives.Proposers.DraftTreeShape", new[]
                    {
                        new InstanceArgument("parents", new ArrayValue(shape.Parents)),
                        new InstanceArgument("choices", new ArrayValue(shape.Choices)),
                    })
                    : new NullValue();
            case UpdatedSource u:
                bool updated = bound.Receiver is { } receiver && step.Updates.Any(x => x.State == receiver.Name && x.Source == u.Source);
                return new ExprValue(Literal.Bool(updated), ParamType.Bool);
            case EngineSource { Value: EngineValue.Target }:
                return new ModelValue(step.VerifyModel); // the verified model, passed like any model role
            case EngineSource e:
                return new EngineArgument(e.Value);
            case StateInstanceSource si:
                return new InstanceRef(stateFields[(string)bound.Arguments[si.Parameter].Value]);
            case ConstantSource c:
                return new ExprValue(c.Value, c.Value.Type);
            case StageSource st:
                return Stage((EngineBinding)bound.Arguments[st.Parameter].Value, st.Part);
            case FilePathSource f:
                return bound.Arguments.TryGetValue(f.Parameter, out var fileArg) && fileArg.Value is BoundFile file
                    ? new StringValue(file.Path)
                    : new NullValue();
            default:
                throw new System.InvalidOperationException($"Primitive '{bound.Descriptor.Name}': constructor argument '{argument.Name}' has a source lowering does not know ({argument.Source}).");
        }
    }

    private static InstanceValue Param(BoundPrimitive bound, string name, string? otherwise, string constructorName, List<StateBinding> bindings, BoundStrategy strategy, Dictionary<string, string> stateFields)
    {
        ParameterSignature parameter = bound.Descriptor.Find(name)
            ?? throw new System.InvalidOperationException($"Primitive '{bound.Descriptor.Name}' has no parameter '{name}' for its constructor argument '{constructorName}'.");
        if (!bound.Arguments.TryGetValue(name, out var argument))
        {
            if (otherwise is not null)
            {
                return Param(bound, otherwise, null, constructorName, bindings, strategy, stateFields);
            }

            if (parameter.Kind == ArgKind.Flag)
            {
                return new ExprValue(Literal.Bool(false), ParamType.Bool);
            }

            return parameter.Default is { } fallback
                ? new ExprValue(fallback, fallback.Type)
                : throw new System.InvalidOperationException($"Primitive '{bound.Descriptor.Name}': '{name}' was not given and has no default, but constructor argument '{constructorName}' needs it.");
        }

        switch (argument.Value)
        {
            case true:
                return new ExprValue(Literal.Bool(true), ParamType.Bool);
            case string role when parameter.Kind == ArgKind.Model:
                return new ModelValue(role);
            case string text when parameter.Kind == ArgKind.String:
                return new StringValue(text);
            case BoundFile file:
                return new StringValue(file.Text);
            case StateRef state:
                // Built for the state's largest value; set from its current value before every step, through the
                // property named like the constructor argument.
                StatePlan plan = strategy.States.First(s => s.Name == state.Name);
                bindings.Add(new StateBinding(Pascal(constructorName), stateFields[state.Name]));
                return new ExprValue(plan.Arg("max") ?? Literal.Int(1), ParamType.Int);
            case Expr expr:
                return new ExprValue(expr, parameter.Kind switch { ArgKind.Int => ParamType.Int, ArgKind.Bool => ParamType.Bool, _ => ParamType.Float });
            default:
                throw new System.InvalidOperationException($"Primitive '{bound.Descriptor.Name}': '{name}' cannot be passed to constructor argument '{constructorName}' as it is.");
        }
    }

    /// <summary>
    /// A part of an engine strategy, from its own resolved instances: the same objects its own decoder builds, with its
    /// roles played by the outer strategy's models, its params folded to their values, and its tree's capacity.
    /// </summary>
    private static InstanceValue Stage(EngineBinding engine, StagePart part)
    {
        var step = (CausalStepPlan)engine.Plan.Step;
        int capacity = step.Verify.Width + 1;
        InstanceValue Remap(InstanceValue value) => value switch
        {
            ExprValue e => new ExprValue(Fold(engine.Plan, e.Expr), e.Type),
            ModelValue m => new ModelValue(engine.Roles.TryGetValue(m.Role, out var outer) ? outer : m.Role),
            NewValue n => new NewValue(n.RuntimeType, n.Arguments.Select(a => new InstanceArgument(a.Name, Remap(a.Value))).ToEquatableArray()),
            ObjectArrayValue a => new ObjectArrayValue(a.ElementType, a.Items.Select(Remap).ToEquatableArray()),
            EngineArgument { Value: EngineValue.Capacity } => new ExprValue(Literal.Int(capacity), ParamType.Int),
            InstanceRef r => throw new System.InvalidOperationException($"Engine '{engine.Name}': '{r.Field}' refers to another instance, which an engine cannot build."),
            _ => value,
        };
        NewValue Build(PrimitiveInstance instance) =>
            new(instance.RuntimeType, instance.Arguments.Select(a => new InstanceArgument(a.Name, Remap(a.Value))).ToEquatableArray());

        return part switch
        {
            StagePart.Proposers => new ObjectArrayValue("Pardec.Runtime.Primitives.Proposers.IProposer",
                step.Instances.Where(i => i.Role == PrimitiveRole.Proposer).Select(i => (InstanceValue)Build(i)).ToEquatableArray()),
            StagePart.Accept => Build(step.Instances.Single(i => i.Role == PrimitiveRole.Acceptance)),
            _ => new ExprValue(Literal.Int(capacity), ParamType.Int),
        };
    }

    // An engine's params are its own: folded to their values here, so the outer decoder never looks them up.
    private static Expr Fold(DecodePlan plan, Expr expr) =>
        expr is ParamRef p && plan.FindParam(p.Name) is { } param ? param.Default : expr;

    private static InstanceValue Missing(BoundPrimitive bound, ConstructorArgument argument) =>
        throw new System.InvalidOperationException($"Primitive '{bound.Descriptor.Name}': constructor argument '{argument.Name}' has no value.");

    internal static string Pascal(string name) => name.Length == 0 ? name : char.ToUpperInvariant(name[0]) + name.Substring(1);
}
