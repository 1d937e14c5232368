using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
using Pardec.Dsl.Syntax;
using Pardec.Dsl.Text;

namespace Pardec.Dsl.Binding;

/// <summary>
/// The guarantee soundness table, enforced: a strategy that declares <c>guarantee lossless</c> or <c>distribution</c>
/// may use only primitives whose descriptors say they preserve it (<see cref="PrimitiveDescriptor.Preserves"/>), and
/// only cache modes, block rules and stop conditions that preserve it (<see cref="PrimitiveCatalog"/>). Nothing else
/// decides: the same table is printed in docs/language.md and every "preserves" entry has a test.
/// </summary>
public sealed partial class Binder
{
    private void CheckGuarantee(BoundStep step)
    {
        Preserves needed = _strategy.Guarantee switch
        {
            Guarantee.Lossless => Preserves.Lossless,
            Guarantee.Distribution => Preserves.Distribution,
            _ => Preserves.None,
        };
        if (needed == Preserves.None)
        {
            return;
        }

        foreach (StateSyntax state in _strategy.Syntax.Members.OfType<StateSyntax>())
        {
            if (_strategy.StatePrimitives.TryGetValue(state.Identifier.Text, out var bound))
            {
                Check(bound.Descriptor, state.Initializer, "state " + Text(state.Initializer), needed);
            }
        }

        foreach (BoundProposer proposer in step.Proposers)
        {
            Check(proposer.Descriptor, proposer.Syntax, Text(proposer.Syntax), needed);
        }

        if (step.AcceptPrimitive is { } accept)
        {
            Check(accept.Descriptor, step.AcceptSyntax!.Rule, "accept " + Text(step.AcceptSyntax.Rule), needed);
        }

        if (step.CommitPrimitive is { } commit)
        {
            Check(commit.Descriptor, step.CommitSyntax!.Rule, "commit " + Text(step.CommitSyntax.Rule), needed);
        }

        if (_strategy.Canvas is { Kind: CanvasKind.Masked } canvas && PrimitiveCatalog.CacheMode(canvas.Cache, DenoiserBlock(step) is not null) is { } cache && (cache.Preserves & needed) == 0)
        {
            // A commit rule that refuses the cache mode has its own error (PDEC1033 / PDEC1060), which says the same.
            CacheSyntax? syntax = _strategy.Syntax.Members.OfType<CacheSyntax>().FirstOrDefault();
            if (syntax is not null && step.CommitPrimitive?.Descriptor.Caches is null)
            {
                Report(needed, syntax.Span, "cache " + cache.Written, Alternatives(PrimitiveCatalog.CacheModes.Where(c => c.Written != "kv"), needed, c => "'cache " + c.Written + "'"));
            }
        }

        if (step.Block is AdaptiveBlockPlan && step.Syntax.Statements.OfType<BlockSyntax>().FirstOrDefault() is { } block && (PrimitiveCatalog.AdaptiveBlock.Preserves & needed) == 0)
        {
            Report(needed, block.Span, PrimitiveCatalog.AdaptiveBlock.Written, "fixed blocks (no 'block' statement)");
        }

        foreach (StopSyntax stop in _strategy.Syntax.Members.OfType<StopSyntax>())
        {
            foreach (ExpressionSyntax condition in stop.Conditions)
            {
                bool eot = condition is CallExpressionSyntax { Receiver: null, Identifier.Text: "eot" } or ComparisonExpressionSyntax { Left: NameExpressionSyntax { Identifier.Text: "eot" } };
                if (eot && (PrimitiveCatalog.EotStop.Preserves & needed) == 0)
                {
                    Report(needed, condition.Span, PrimitiveCatalog.EotStop.Written, "'stop eos, max_tokens'");
                }
            }
        }
    }

    private void Check(PrimitiveDescriptor descriptor, SyntaxNode syntax, string written, Preserves needed)
    {
        if ((descriptor.Preserves & needed) != 0)
        {
            return;
        }

        var others = _library.OfRole(descriptor.Role).Where(d => (d.Preserves & needed) != 0 && d.Canvases.Contains(CanvasKind) && d.Receiver is null);
        Report(needed, syntax.Span, written, Alternatives(others, needed, d => "'" + Keyword(d.Role) + d.Usage + "'"));
    }

    private static string Keyword(PrimitiveRole role) => role switch
    {
        PrimitiveRole.Acceptance => "accept ",
        PrimitiveRole.Commit => "commit ",
        _ => string.Empty,
    };

    private static string Alternatives<T>(IEnumerable<T> choices, Preserves needed, System.Func<T, string> written)
    {
        var list = choices.Select(written).ToList();
        return list.Count == 0 ? "another primitive" : string.Join(" or ", list);
    }

    private void Report(Preserves needed, TextSpan span, string written, string alternatives) =>
        Report(needed == Preserves.Lossless ? DiagnosticDescriptors.LossyRuleUnderLossless : DiagnosticDescriptors.DistributionNeedsRejection, span, written, alternatives);
}
