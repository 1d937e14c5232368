using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
using Pardec.Dsl.Syntax;

namespace Pardec.Dsl.Binding;

/// <summary>
/// The strategies of one file, bound on demand so that one may name another as the engine of its draft (staged
/// speculation): a strategy is bound once, the first time it is compiled or named, into diagnostics of its own; naming a
/// strategy that is still being bound is a cycle.
/// </summary>
internal sealed class StrategyScope
{
    private readonly Dictionary<string, StrategySyntax> _syntax = new();
    private readonly Dictionary<StrategySyntax, Entry> _bound = new();
    private readonly List<string> _binding = new();
    private readonly SyntaxTree _tree;
    private readonly PrimitiveLibrary? _library;
    private readonly System.Func<string, string?>? _readFile;

    public StrategyScope(SyntaxTree tree, PrimitiveLibrary? library, System.Func<string, string?>? readFile = null)
    {
        _tree = tree;
        _library = library;
        _readFile = readFile;
        foreach (StrategySyntax strategy in tree.Root.Strategies)
        {
            if (!strategy.Identifier.IsMissing && !_syntax.ContainsKey(strategy.Identifier.Text))
            {
                _syntax[strategy.Identifier.Text] = strategy;
            }
        }
    }

    public IEnumerable<string> Names => _syntax.Keys;

    public sealed class Entry
    {
        public Entry(BoundStrategy strategy, DiagnosticBag diagnostics, bool hasErrors)
        {
            Strategy = strategy;
            Diagnostics = diagnostics;
            HasErrors = hasErrors;
        }

        public BoundStrategy Strategy { get; }

        public DiagnosticBag Diagnostics { get; }

        public bool HasErrors { get; }

        private DecodePlan? _plan;

        /// <summary>The lowered plan (only for a strategy without errors).</summary>
        public DecodePlan Plan => _plan ??= Strategy.Lower();
    }

    /// <summary>Binds <paramref name="strategy"/> (once).</summary>
    public Entry Bind(StrategySyntax strategy)
    {
        if (_bound.TryGetValue(strategy, out Entry? entry))
        {
            return entry;
        }

        var diagnostics = new DiagnosticBag(_tree.Text);
        _binding.Add(strategy.Identifier.Text);
        BoundStrategy bound = Binder.Bind(strategy, diagnostics, _library, this, _readFile);
        _binding.RemoveAt(_binding.Count - 1);
        bool hasErrors = diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error)
            || _tree.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error && strategy.Span.Contains(d.Span));
        entry = new Entry(bound, diagnostics, hasErrors);
        _bound[strategy] = entry;
        return entry;
    }

    /// <summary>
    /// The strategy called <paramref name="name"/>, bound; null when the file has none. <paramref name="cycle"/> is the
    /// chain of engines that leads back to it when it is being bound already.
    /// </summary>
    public Entry? Find(string name, out string? cycle)
    {
        cycle = null;
        if (!_syntax.TryGetValue(name, out StrategySyntax? syntax))
        {
            return null;
        }

        int at = _binding.IndexOf(name);
        if (at >= 0)
        {
            cycle = string.Join(" -> ", _binding.Skip(at).Concat(new[] { name }));
            return null;
        }

        return Bind(syntax);
    }
}
