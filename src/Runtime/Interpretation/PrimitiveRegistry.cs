using System.Reflection;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
using Pardec.Runtime.Masked;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Acceptance;
using Pardec.Runtime.Primitives.Proposers;
using Pardec.Runtime.Primitives.State;

namespace Pardec.Runtime.Interpretation;

/// <summary>
/// The runtime types a plan's <see cref="PrimitiveInstance"/>s may name, and how the interpreter builds one: the public
/// constructor whose parameter names are the instance's argument names (optional parameters may be left out), each
/// value converted to the parameter's type. This is the interpreter's half of the descriptor contract; the emitter's
/// half prints the same names as C# named arguments. Construction only — nothing here runs per step.
/// </summary>
public sealed class PrimitiveRegistry
{
    private readonly Dictionary<string, Type> _types;

    private PrimitiveRegistry(Dictionary<string, Type> types) => _types = types;

    /// <summary>
    /// The runtime's own primitives: any type of this assembly, by its full name — so a built-in primitive needs no
    /// registration line, only its descriptor and its class.
    /// </summary>
    public static PrimitiveRegistry Default { get; } = new(new Dictionary<string, Type>(StringComparer.Ordinal));

    /// <summary>A registry that also knows <paramref name="type"/> (by its full name, as descriptors name it).</summary>
    public PrimitiveRegistry With(Type type) =>
        new(new Dictionary<string, Type>(_types, StringComparer.Ordinal) { [type.FullName!] = type });

    public Type Resolve(string runtimeType) =>
        _types.TryGetValue(runtimeType, out var type) ? type
        : typeof(PrimitiveRegistry).Assembly.GetType(runtimeType, throwOnError: false)
          ?? throw new InvalidOperationException($"No runtime type '{runtimeType}' is in Pardec.Runtime or registered with the interpreter; register it with PrimitiveRegistry.With(typeof(...)).");

    /// <summary>The public constructor taking exactly these named arguments (any it leaves out must be optional), or null.</summary>
    public static ConstructorInfo? Constructor(Type type, IReadOnlyCollection<string> names) =>
        type.GetConstructors().FirstOrDefault(c =>
        {
            var parameters = c.GetParameters();
            return names.All(n => parameters.Any(p => p.Name == n)) && parameters.All(p => names.Contains(p.Name!) || p.IsOptional);
        });

    /// <summary>Builds an instance's runtime object from its resolved arguments.</summary>
    public object Create(PrimitiveInstance instance, InstanceContext context) =>
        Create(instance.RuntimeType, instance.Arguments, context, instance.Field);

    private object Create(string runtimeType, IReadOnlyList<InstanceArgument> arguments, InstanceContext context, string owner)
    {
        var type = Resolve(runtimeType);
        var names = arguments.Select(a => a.Name).ToArray();
        var constructor = Constructor(type, names) ?? throw new InvalidOperationException(
            $"'{owner}': {type.Name} has no public constructor taking ({string.Join(", ", names)}).");
        var parameters = constructor.GetParameters();
        var values = new object?[parameters.Length];
        for (int i = 0; i < parameters.Length; i++)
        {
            var argument = arguments.FirstOrDefault(a => a.Name == parameters[i].Name);
            values[i] = argument is null ? parameters[i].DefaultValue : Convert(argument.Value, parameters[i].ParameterType, context, owner + "." + argument.Name);
        }
        return constructor.Invoke(values);
    }

    // An engine's proposers: each built as a nested instance, into an array of the parameter's element type.
    private Array Array(ObjectArrayValue value, Type element, InstanceContext context, string owner)
    {
        var array = System.Array.CreateInstance(element, value.Items.Count);
        for (int i = 0; i < value.Items.Count; i++) array.SetValue(Convert(value.Items[i], element, context, owner + "[" + i + "]"), i);
        return array;
    }

    private object? Convert(InstanceValue value, Type type, InstanceContext context, string owner) => value switch
    {
        ExprValue e when type == typeof(int) => context.Values.Int(e.Expr),
        ExprValue e when type == typeof(double) => context.Values.Evaluate(e.Expr),
        ExprValue e when type == typeof(bool) => context.Values.Evaluate(e.Expr) != 0,
        ModelValue m when type == typeof(MedusaHeads) => context.Models.Heads(m.Role),
        ModelValue m when type.IsAssignableFrom(typeof(ICausalLM)) => context.Models.Model(m.Role),
        ArrayValue a when type.IsAssignableFrom(typeof(int[])) => a.Items.ToArray(),
        NewValue n => Create(n.RuntimeType, n.Arguments, context, owner),
        ObjectArrayValue a when type.IsArray => Array(a, type.GetElementType()!, context, owner),
        EngineArgument { Value: EngineValue.MaxLength } => context.MaxLength,
        EngineArgument { Value: EngineValue.Capacity } => context.Capacity,
        EngineArgument { Value: EngineValue.Sampler } => context.Sampler,
        EngineArgument { Value: EngineValue.MaskedSession } => context.MaskedSession,
        EngineArgument { Value: EngineValue.Vocabulary } => context.Models.VocabularyFor(context.Values.Strategy),
        StringValue s when type == typeof(string) => s.Value,
        InstanceRef r when context.Built is { } built && built.TryGetValue(r.Field, out var instance) && type.IsInstanceOfType(instance) => instance,
        NullValue when !type.IsValueType => null,
        _ => throw new InvalidOperationException($"'{owner}': cannot pass {value} as a {type.Name}."),
    };
}

/// <summary>What an engine provides when it builds a decoder's primitives.</summary>
/// <param name="Built">The step's instances built so far, by field, for arguments that name another instance.</param>
public sealed record InstanceContext(ModelSet Models, ParamValues Values, int MaxLength, int Capacity, NodeSampler Sampler,
                                     MaskedSession? MaskedSession = null, IReadOnlyDictionary<string, object>? Built = null);
