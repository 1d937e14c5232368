using System.Collections.Generic;
using System.Linq;
using System.Text;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Syntax;
using Pardec.Dsl.Text;

namespace Pardec.Dsl;

/// <summary>
/// Builds a strategy's syntax tree from pieces — the way the generator turns a <c>[Strategy]</c> class into
/// the same tree a .pdec file gives, so both get one binder and one set of checks. Each piece carries an
/// <c>origin</c> (for the generator, the attribute's location); <see cref="BuiltStrategy.OriginOf"/> maps a
/// diagnostic back to the piece it came from.
/// </summary>
public sealed class StrategyBuilder
{
    private readonly string _name;
    private readonly List<(string Text, object? Origin)> _members = new();
    private readonly List<(string Text, object? Origin)> _step = new();

    public StrategyBuilder(string name) => _name = name;

    public StrategyBuilder Paper(string title, object? origin = null) => Member("paper \"" + title.Replace("\"", "\\\"") + "\"", origin);

    public StrategyBuilder Guarantee(string guarantee, object? origin = null) => Member("guarantee " + guarantee, origin);

    public StrategyBuilder Canvas(string canvas, object? origin = null) => Member("canvas " + canvas, origin);

    public StrategyBuilder Model(string role, string kind, object? origin = null) => Member($"model {role}: {kind}", origin);

    /// <param name="range">e.g. <c>1..16</c> or <c>(0, 1]</c>; null for none.</param>
    public StrategyBuilder Param(string name, string type, string defaultValue, string? range = null, bool runtime = false, object? origin = null) =>
        Member($"param {name}: {type} = {defaultValue}" + (range is null ? string.Empty : " in " + range) + (runtime ? " runtime" : string.Empty), origin);

    public StrategyBuilder State(string name, string initializer, object? origin = null) => Member($"state {name} = {initializer}", origin);

    public StrategyBuilder Stop(string conditions, object? origin = null) => Member("stop " + conditions, origin);

    /// <summary>Any strategy-level line, e.g. <c>cache dual</c>.</summary>
    public StrategyBuilder Member(string line, object? origin = null)
    {
        _members.Add((line, origin));
        return this;
    }

    /// <summary>A step statement, e.g. <c>propose lookup(max_ngram: 3, length: 10)</c>.</summary>
    public StrategyBuilder Statement(string line, object? origin = null)
    {
        _step.Add((line, origin));
        return this;
    }

    public BuiltStrategy Build(string path = "")
    {
        var text = new StringBuilder();
        var origins = new List<(TextSpan, object?)>();
        void Line(string indent, string line, object? origin)
        {
            text.Append(indent);
            int start = text.Length;
            text.Append(line);
            origins.Add((TextSpan.FromBounds(start, text.Length), origin));
            text.Append('\n');
        }

        Line(string.Empty, "strategy " + _name, null);
        foreach (var (line, origin) in _members)
        {
            Line("  ", line, origin);
        }

        if (_step.Count > 0)
        {
            Line("  ", "step", null);
            foreach (var (line, origin) in _step)
            {
                Line("    ", line, origin);
            }
        }

        Line(string.Empty, "end", null);
        return new BuiltStrategy(SyntaxTree.Parse(text.ToString(), path), origins);
    }
}

/// <summary>A built tree plus the origin of each line.</summary>
public sealed class BuiltStrategy
{
    private readonly IReadOnlyList<(TextSpan Span, object? Origin)> _origins;

    internal BuiltStrategy(SyntaxTree tree, IReadOnlyList<(TextSpan, object?)> origins)
    {
        Tree = tree;
        _origins = origins;
    }

    public SyntaxTree Tree { get; }

    public CompileResult Compile() => PdecCompiler.Compile(Tree);

    /// <summary>The origin of the piece a diagnostic points into (the strategy's own origin is null).</summary>
    public object? OriginOf(Diagnostic diagnostic) =>
        _origins.FirstOrDefault(o => o.Span.Start <= diagnostic.Span.Start && diagnostic.Span.Start <= o.Span.End).Origin;
}
