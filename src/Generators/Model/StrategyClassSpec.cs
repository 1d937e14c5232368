using Pardec.Dsl.Collections;

namespace Pardec.Generators.Model;

/// <summary>
/// Everything the generator reads from a <c>[Strategy]</c> class, as strings and locations: the source lines the class
/// spells out (strategy members and step statements, each with the attribute argument it came from), the members the
/// generator implements, and the diagnostics found while reading it. Must stay immutable and pointwise equatable — it is
/// the incremental cache key, so no <c>ISymbol</c>, <c>SyntaxNode</c> or <c>Compilation</c> may be reachable from it.
/// </summary>
public sealed record StrategyClassSpec(
    string Namespace,
    string ClassName,
    LocationSpec ClassLocation,
    EquatableArray<LineSpec> Members,
    EquatableArray<LineSpec> Statements,
    EquatableArray<RolePropertySpec> Roles,
    EquatableArray<HookSpec> Hooks,
    EquatableArray<DiagnosticSpec> Diagnostics);

/// <summary>One line of the strategy's text and the attribute argument (or member) it was read from.</summary>
public sealed record LineSpec(string Text, LocationSpec Location);

/// <summary>A <c>[Model]</c> property the generator implements: <c>{Modifiers} static partial string {Property} => "{Role}"</c>.</summary>
public sealed record RolePropertySpec(string Modifiers, string Property, string Role);

/// <summary>
/// A <c>[Propose]</c> hook called by the generated loop; its chain is verified with the declared proposers. Either a
/// static method (<see cref="Method"/> is its name), or a nested type (<see cref="IsType"/>) the decoder keeps one
/// instance of, with <c>Propose</c> and, when it declares them, <c>Reset</c> and <c>Observe</c>.
/// </summary>
public sealed record HookSpec(string Method, int MaxLength, LocationSpec Location, bool IsType = false, bool HasReset = false, bool HasObserve = false);

/// <summary>
/// A compiled <c>[Strategy]</c> class: the decoder's source (null when the class or its text had errors), the generator's
/// part of the class, and every diagnostic (reading the class, the front end's mapped back to attributes, hooks).
/// </summary>
public sealed record StrategyClassOutput(
    string Namespace,
    string ClassName,
    string? DecoderSource,
    string? ClassPartSource,
    EquatableArray<DiagnosticSpec> Diagnostics);
