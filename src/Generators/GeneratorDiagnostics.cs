using Microsoft.CodeAnalysis;

namespace Pardec.Generators;

/// <summary>
/// PDEC2xxx: problems with how C# declares a strategy (the attributed form). Codes are stable and never reused;
/// each message says what was expected.
/// </summary>
internal static class GeneratorDiagnostics
{
    public const string Category = "Pardec.Generator";

    /// <summary>PDEC2001: "Strategy class '{0}' must be declared partial: the generator adds its role properties and hook proposers to it".</summary>
    public static readonly DiagnosticDescriptor NotPartial = new(
        "PDEC2001", "A [Strategy] class must be partial",
        "Strategy class '{0}' must be declared partial: the generator adds its role properties and hook proposers to it",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    /// <summary>PDEC2002: "Hook '{0}' has the wrong signature; expected 'static int {0}(ReadOnlySpan&lt;int&gt; context, Span&lt;int&gt; draft)'{1}".</summary>
    public static readonly DiagnosticDescriptor HookSignature = new(
        "PDEC2002", "A [Propose] hook has the wrong signature",
        "Hook '{0}' has the wrong signature; expected 'static int {0}(ReadOnlySpan<int> context, Span<int> draft)'{1}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    /// <summary>PDEC2003: "Strategy class '{0}' must be {1}".</summary>
    public static readonly DiagnosticDescriptor ClassShape = new(
        "PDEC2003", "A [Strategy] class must be a top-level, non-generic class in a namespace",
        "Strategy class '{0}' must be {1}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    /// <summary>PDEC2004: "'{0}' cannot carry [{1}]: expected {2}".</summary>
    public static readonly DiagnosticDescriptor MemberShape = new(
        "PDEC2004", "A strategy member has the wrong shape for its attribute",
        "'{0}' cannot carry [{1}]: expected {2}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    /// <summary>PDEC2005: "[Commit] on '{0}' is reserved for C# commit rules, which are not supported yet; write the rule as a [Step] line such as 'commit confidence >= 0.9'".</summary>
    public static readonly DiagnosticDescriptor CommitReserved = new(
        "PDEC2005", "[Commit] is reserved",
        "[Commit] on '{0}' is reserved for C# commit rules, which are not supported yet; write the rule as a [Step] line such as 'commit confidence >= 0.9'",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    /// <summary>PDEC2007: "Hook type '{0}' {1}; expected a non-abstract class with a parameterless constructor and 'int Propose(ReadOnlySpan&lt;int&gt; context, Span&lt;int&gt; draft)', optionally 'void Reset(ReadOnlySpan&lt;int&gt; prompt)' and 'void Observe(ReadOnlySpan&lt;int&gt; context, int accepted)'".</summary>
    public static readonly DiagnosticDescriptor HookTypeShape = new(
        "PDEC2007", "A [Propose] hook type has the wrong shape",
        "Hook type '{0}' {1}; expected a non-abstract class with a parameterless constructor and 'int Propose(ReadOnlySpan<int> context, Span<int> draft)', optionally 'void Reset(ReadOnlySpan<int> prompt)' and 'void Observe(ReadOnlySpan<int> context, int accepted)'",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    /// <summary>PDEC2006: "Hook '{0}' cannot run: hooks are called from the specialised causal loop, but strategy '{1}' {2}".</summary>
    public static readonly DiagnosticDescriptor HookNotSpecialised = new(
        "PDEC2006", "A [Propose] hook needs a specialised causal step",
        "Hook '{0}' cannot run: hooks are called from the specialised causal loop, but strategy '{1}' {2}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
}
