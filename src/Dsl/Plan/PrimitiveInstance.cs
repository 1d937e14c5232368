using System.Linq;
using Pardec.Dsl.Collections;
using Pardec.Dsl.Primitives;

namespace Pardec.Dsl.Plan;

/// <summary>
/// One primitive of a step, resolved: the runtime type and every constructor argument by name, with values that are
/// either constants of the plan (literals and params), model roles, build-time arrays, nested objects, or values only
/// the engine has (<see cref="EngineValue"/>). The emitter prints <c>new T(name: value, …)</c> from it and the
/// interpreter builds it through its registry, so both engines build the same objects by construction.
/// </summary>
/// <param name="Primitive">The descriptor's name (<c>draft</c>, <c>match</c>, <c>greedy</c>).</param>
/// <param name="Field">The decoder field that holds it, named by role: <c>draft</c>, <c>pool</c>, <c>accept</c>.</param>
/// <param name="Bindings">Properties set from a state before every step (a draft's <c>Length</c> from an adaptive length).</param>
/// <param name="Options">Generation options the primitive overrides (<c>Temperature</c>).</param>
/// <param name="Updates">Calls after each step that feed this instance from another (<c>pool.AddFromJacobi(context, jacobi)</c>).</param>
public sealed record PrimitiveInstance(
    string Primitive,
    PrimitiveRole Role,
    string Field,
    string RuntimeType,
    EquatableArray<InstanceArgument> Arguments,
    bool CountsDraftForwards = false,
    bool NeedsHidden = false,
    bool ProvidesDistributions = false,
    bool SelectsOnSession = false,
    bool Disposable = false,
    EquatableArray<StateBinding> Bindings = default,
    EquatableArray<OptionValue> Options = default,
    EquatableArray<InstanceUpdate> Updates = default)
{
    public InstanceArgument? Argument(string name) => Arguments.FirstOrDefault(a => a.Name == name);

    /// <summary>The constructor call in C#-like text, e.g. <c>PromptLookupProposer(maxNgram: 3, minNgram: 1, length: 10)</c>.</summary>
    public override string ToString() =>
        Field + " = " + RuntimeType.Substring(RuntimeType.LastIndexOf('.') + 1) + "(" + string.Join(", ", Arguments) + ")"
        + string.Concat(Bindings.Select(b => "; " + b))
        + string.Concat(Options.Select(o => "; " + o))
        + string.Concat(Updates.Select(u => "; " + u));
}

/// <summary>A constructor argument by the constructor's parameter name.</summary>
public sealed record InstanceArgument(string Name, InstanceValue Value)
{
    public override string ToString() => Name + ": " + Value;
}

/// <summary>Sets <see cref="Property"/> from the state field <see cref="State"/>'s <c>Current</c> before every step.</summary>
public sealed record StateBinding(string Property, string State)
{
    public override string ToString() => $"{Property} <- {State}.Current";
}

/// <summary>A generation option the primitive sets (e.g. <c>Temperature</c> for <c>rejection(temperature: t)</c>).</summary>
public sealed record OptionValue(string Option, Expr Value)
{
    public override string ToString() => $"options.{Option} = {Value}";
}

/// <summary>After each step: <c>Field.Call(...)</c>, fed from the instance <see cref="From"/> (null for the step's outcome).</summary>
public sealed record InstanceUpdate(string Source, string Call, string? From)
{
    public override string ToString() => $"after each step {Call}({Source}{(From is null ? string.Empty : ": " + From)})";
}

/// <summary>A resolved constructor value.</summary>
public abstract record InstanceValue;

/// <summary>A number or bool of the plan: a literal, or a param (folded by the emitter, read by the interpreter).</summary>
public sealed record ExprValue(Expr Expr, ParamType Type) : InstanceValue
{
    public override string ToString() => Expr.ToString();
}

/// <summary>The model bound to a role.</summary>
public sealed record ModelValue(string Role) : InstanceValue
{
    public override string ToString() => Role;
}

/// <summary>A build-time int array (a static tree's parents, depths or choices; skipped layers).</summary>
public sealed record ArrayValue(EquatableArray<int> Items) : InstanceValue
{
    public override string ToString() => "[" + string.Join(", ", Items) + "]";
}

/// <summary>A nested object built from named arguments (a <c>LayerSkip</c>, a <c>DraftTreeShape</c>).</summary>
public sealed record NewValue(string RuntimeType, EquatableArray<InstanceArgument> Arguments) : InstanceValue
{
    public override string ToString() => RuntimeType.Substring(RuntimeType.LastIndexOf('.') + 1) + "(" + string.Join(", ", Arguments) + ")";
}

/// <summary>An array of objects of <see cref="ElementType"/> (an engine's proposers), each built like a <see cref="NewValue"/>.</summary>
public sealed record ObjectArrayValue(string ElementType, EquatableArray<InstanceValue> Items) : InstanceValue
{
    public override string ToString() => "[" + string.Join(", ", Items) + "]";
}

/// <summary>A value the engine provides when it builds the decoder.</summary>
public sealed record EngineArgument(EngineValue Value) : InstanceValue
{
    public override string ToString() => "<" + Value.ToString().ToLowerInvariant() + ">";
}

/// <summary>Another instance of the step, by field (a credit rule's credits).</summary>
public sealed record InstanceRef(string Field) : InstanceValue
{
    public override string ToString() => Field;
}

/// <summary>An absent optional reference (no layer skip, no static shape).</summary>
public sealed record NullValue : InstanceValue
{
    public override string ToString() => "null";
}

/// <summary>A string constant: a regex, or the text of a schema or grammar file read at build time.</summary>
public sealed record StringValue(string Value) : InstanceValue
{
    public override string ToString() => "\"" + Value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n").Replace("\r", "\\r") + "\"";
}
