using System.Collections;
using System.Collections.Generic;
using Pardec.Dsl.Text;

namespace Pardec.Dsl.Diagnostics;

/// <summary>Collects diagnostics for one source text while a stage runs.</summary>
public sealed class DiagnosticBag : IEnumerable<Diagnostic>
{
    private readonly List<Diagnostic> _items = new();

    public DiagnosticBag(SourceText text) => Text = text;

    public SourceText Text { get; }

    public int Count => _items.Count;

    public void Report(DiagnosticDescriptor descriptor, TextSpan span, params object[] args) =>
        _items.Add(Diagnostic.Create(descriptor, Text, span, args));

    public void AddRange(IEnumerable<Diagnostic> diagnostics) => _items.AddRange(diagnostics);

    public IEnumerator<Diagnostic> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
