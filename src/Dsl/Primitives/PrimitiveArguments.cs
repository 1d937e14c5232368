using System.Collections.Generic;
using Pardec.Dsl.Binding;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Trees;

namespace Pardec.Dsl.Primitives;

/// <summary>A primitive's arguments after binding, by parameter name: numbers as <see cref="Expr"/>, roles and states as names.</summary>
public sealed class PrimitiveArguments
{
    private readonly IReadOnlyDictionary<string, BoundArgument> _arguments;

    internal PrimitiveArguments(IReadOnlyDictionary<string, BoundArgument> arguments, string? receiver)
    {
        _arguments = arguments;
        Receiver = receiver;
    }

    /// <summary>The state a method primitive is called on (<c>pool</c> in <c>pool.match</c>).</summary>
    public string? Receiver { get; }

    public bool Has(string name) => _arguments.ContainsKey(name);

    public Expr? Expr(string name) => _arguments.TryGetValue(name, out var a) ? a.Value as Expr : null;

    public string Name(string name) => _arguments.TryGetValue(name, out var a) ? a.Value as string ?? string.Empty : string.Empty;

    public bool Flag(string name) => _arguments.ContainsKey(name);

    /// <summary>The strategy a parameter names as an engine, with its role bindings.</summary>
    public EngineRef? Engine(string name) => _arguments.TryGetValue(name, out var a) ? (a.Value as EngineBinding)?.Ref : null;

    public TokenTreeShape? Tree(string name) => _arguments.TryGetValue(name, out var a) ? a.Value as TokenTreeShape : null;

    internal bool TryGet(string name, out BoundArgument argument) => _arguments.TryGetValue(name, out argument!);
}
