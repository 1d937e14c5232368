using System.Linq;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Syntax;

namespace Pardec.Dsl.Binding;

/// <summary>
/// The denoiser a masked strategy declares (<c>model m: masked(block_causal: n, shifted: b)</c>) decides what its cache
/// and rules can be: on a block-causal denoiser the prefix cache holds finished model blocks only and is exact (the
/// guarantee check reads <see cref="PrimitiveCatalog.CacheMode(CacheMode, bool)"/>), and what does not fit the model's
/// blocks is PDEC1070. The runtime checks the model's config against the declaration when a decoder is built.
/// </summary>
public sealed partial class Binder
{
    /// <summary>The block of the masked model <c>predict</c> reads when it is declared block-causal (its worst-case value), else null.</summary>
    private int? DenoiserBlock(BoundStep step) =>
        _strategy.Models.FirstOrDefault(m => m.Role == step.Predict) is { Kind: ModelKind.Masked, Denoiser.BlockCausal: { } block }
            ? (int)WorstCase(block, 1)
            : null;

    private void CheckDenoiser(BoundStep step)
    {
        if (DenoiserBlock(step) is not int block || _strategy.Canvas is not { } canvas)
        {
            return;
        }

        string role = step.Predict, denoiser = $"a block-causal denoiser of block {block}";
        int canvasBlock = (int)WorstCase(canvas.BlockSize, 32);
        if (canvasBlock > 0 && block % canvasBlock != 0 && _strategy.Syntax.Members.OfType<CanvasSyntax>().FirstOrDefault() is { } canvasSyntax)
        {
            Report(DiagnosticDescriptors.DenoiserMismatch, canvasSyntax.Canvas.Span, "canvas " + Text(canvasSyntax.Canvas), role, denoiser,
                $"a canvas block of {canvasBlock} would straddle the model's blocks; use its block or a sub-block that divides it (Fast-dLLM v2 decodes blocks of bd_size in sub-blocks)");
        }

        if (canvas.Cache == CacheMode.Dual && _strategy.Syntax.Members.OfType<CacheSyntax>().FirstOrDefault() is { } cache)
        {
            Report(DiagnosticDescriptors.DenoiserMismatch, cache.Span, "cache dual", role, denoiser,
                "the suffix it keeps is never attended by a block-causal denoiser; 'cache prefix' holds the finished blocks and is exact here");
        }

        if (step.Block is AdaptiveBlockPlan && step.Syntax.Statements.OfType<BlockSyntax>().FirstOrDefault() is { } blockSyntax)
        {
            Report(DiagnosticDescriptors.DenoiserMismatch, blockSyntax.Span, Text(blockSyntax), role, denoiser,
                "the model's blocks are fixed by its training; an adaptive canvas block would straddle them");
        }

        if (step.Commit is DraftVerifyCommitPlan or VerifyTreeCommitPlan)
        {
            Report(DiagnosticDescriptors.DenoiserMismatch, step.CommitSyntax!.Rule.Span, "commit " + Text(step.CommitSyntax.Rule), role, denoiser,
                "its batched candidate canvases are forwarded with a bidirectional mask");
        }
    }
}
