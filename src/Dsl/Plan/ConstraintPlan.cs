using System.Linq;
using Pardec.Dsl.Collections;

namespace Pardec.Dsl.Plan;

/// <summary>
/// The strategy's <c>constrain</c> statement: the constraint primitive and its arguments as written (a file argument
/// keeps its path for printing and its text for equality, so editing the schema changes the plan).
/// </summary>
/// <param name="PerRequest">The constraint comes with each request (<c>constrain runtime</c>).</param>
/// <param name="Regular">The constraint is a regular language (a regex, a JSON Schema, a grammar without recursion): what
/// a masked canvas can follow. Unknown until run time for a per-request constraint (false).</param>
public sealed record ConstraintPlan(string Primitive, EquatableArray<ConstraintArgument> Arguments, bool PerRequest, bool Regular)
{
    /// <summary>The constraint as the language writes it: <c>regex("[0-9]+")</c>, <c>json(schema: "person.json")</c>, <c>runtime</c>.</summary>
    public override string ToString() => Arguments.IsEmpty ? Primitive : Primitive + "(" + string.Join(", ", Arguments) + ")";
}

/// <param name="Printed">The value as the language writes it: a quoted string (a pattern, a file's path) or a number.</param>
/// <param name="FileText">For a file argument, the file's contents as read when the strategy was compiled.</param>
public sealed record ConstraintArgument(string Name, string Printed, bool Positional, string? FileText = null)
{
    public override string ToString() => Positional ? Printed : Name + ": " + Printed;

    /// <summary>A string as a .pdec literal (the lexer reads <c>\"</c> and <c>\\</c>; a backslash before anything else stays).</summary>
    public static string Quote(string value) => "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
