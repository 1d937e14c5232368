using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Syntax;
using Pardec.Dsl.Text;
using Pardec.Dsl.Trees;

namespace Pardec.Dsl.Binding;

public sealed partial class Binder
{
    private static readonly string[] CausalOnly = { "propose", "verify", "accept" };
    private static readonly string[] MaskedOnly = { "predict", "commit", "block" };

    private void BindStep(StepSyntax syntax)
    {
        var step = new BoundStep(syntax);
        _strategy.Step = step;
        var seen = new HashSet<string>();
        foreach (StatementSyntax statement in syntax.Statements)
        {
            string keyword = statement.Keyword.Text;
            string[] wrongHere = CanvasKind == CanvasKind.Masked ? CausalOnly : MaskedOnly;
            if (wrongHere.Contains(keyword))
            {
                string valid = CanvasKind == CanvasKind.Masked ? "causal" : "masked";
                Report(DiagnosticDescriptors.PrimitiveOnCanvas, statement.Keyword.Span, keyword, valid, _strategy.Name, CanvasKind.ToString().ToLowerInvariant());
                continue;
            }

            if (statement is not UpdateSyntax && !seen.Add(keyword))
            {
                Report(DiagnosticDescriptors.DuplicateStatement, statement.Keyword.Span, keyword, _strategy.Name);
                continue;
            }

            switch (statement)
            {
                case ProposeSyntax propose: BindPropose(step, propose); break;
                case VerifySyntax verify: BindVerify(step, verify); break;
                case AcceptSyntax accept: BindAccept(step, accept); break;
                case PredictSyntax predict: BindPredict(step, predict); break;
                case CommitSyntax commit: BindCommit(step, commit); break;
                case BlockSyntax block: BindBlock(step, block); break;
            }
        }

        // Updates last: their sources may name any proposer of the step.
        foreach (UpdateSyntax update in syntax.Statements.OfType<UpdateSyntax>())
        {
            BindUpdate(step, update);
        }

        string[] required = CanvasKind == CanvasKind.Causal ? new[] { "verify", "accept" } : new[] { "predict", "commit" };
        foreach (string keyword in required.Where(k => !seen.Contains(k)))
        {
            Report(DiagnosticDescriptors.MissingStatement, syntax.Keyword.Span, _strategy.Name, $"a '{keyword}' statement in its step");
        }
    }

    private void BindPropose(BoundStep step, ProposeSyntax syntax)
    {
        step.Propose = syntax;
        foreach (ExpressionSyntax proposer in syntax.Proposers)
        {
            if (!IsMissing(proposer) && BindProposer(proposer) is { } bound)
            {
                step.Proposers.Add(bound);
            }
        }
    }

    private BoundProposer? BindProposer(ExpressionSyntax syntax)
    {
        if (syntax is CallExpressionSyntax { Receiver: { } receiver } member)
        {
            string? pool = BindStateReference(receiver, StateKind.NgramPool, "'.match'");
            if (member.Identifier.Text != "match")
            {
                Report(DiagnosticDescriptors.UnknownPrimitive, member.Identifier.Span, receiver.Text + "." + member.Identifier.Text,
                    receiver.Text + ".match(guesses: g)", string.Empty);
                return null;
            }

            var matchArgs = BindArguments(syntax, PrimitiveCatalog.PoolMatch, receiver.Text + ".match");
            ReportRuntimeSizes(matchArgs);
            if (pool is null)
            {
                return null;
            }

            Expr guesses = ExprArg(matchArgs, "guesses") ?? Literal.Int(0);
            double n = WorstCase(_strategy.States.First(s => s.Name == pool).Arg("size"), 2);
            return new BoundProposer(syntax, new PoolMatchProposer(pool, guesses), (int)(WorstCase(guesses) * (n - 1)));
        }

        string? name = NameOf(syntax);
        PrimitiveSignature? signature = PrimitiveCatalog.Proposers.FirstOrDefault(p => p.Name == name);
        if (name is null || signature is null)
        {
            string text = name ?? Text(syntax);
            SyntaxNode at = syntax is CallExpressionSyntax call ? call.Identifier : syntax;
            Report(DiagnosticDescriptors.UnknownPrimitive, at.Span, text, string.Join(", ", PrimitiveCatalog.ProposerNames),
                NameSuggester.Hint(text, PrimitiveCatalog.Proposers.Select(p => p.Name)));
            return null;
        }

        var args = BindArguments(syntax, signature);
        ReportRuntimeSizes(args);
        string model = args.TryGetValue("model", out var m) ? (string)m.Value : string.Empty;
        bool sample = FlagArg(args, "sample");
        if (args.Count(a => a.Value.Parameter.Required) < signature.Parameters.Count(p => p.Required))
        {
            return null;
        }

        switch (signature.Name)
        {
            case "draft":
            {
                Expr length = ExprArg(args, "length")!;
                return new BoundProposer(syntax, new DraftProposer(model, length, sample, ExprArg(args, "stop_below")), (int)WorstCase(length));
            }

            case "self_draft":
            {
                Expr length = ExprArg(args, "length")!;
                return new BoundProposer(syntax, new SelfDraftProposer(model, length, sample, ExprArg(args, "stop_below")), (int)WorstCase(length));
            }

            case "draft_tree":
            {
                TokenTreeShape? shape = args.TryGetValue("shape", out var s) ? (TokenTreeShape)s.Value : null;
                Expr? depth = ExprArg(args, "depth");
                Expr? topK = ExprArg(args, "topk");
                bool hasShapeArg = ArgumentsOf(syntax).Any(a => a.Name?.Text == "shape");
                if (!hasShapeArg && (depth is null || topK is null))
                {
                    Report(DiagnosticDescriptors.MissingArgument, syntax.Span, "draft_tree", depth is null ? "depth" : "topk", "give depth: d and topk: k for a dynamic tree, or shape: [[...]] for a static one");
                    return null;
                }

                if (hasShapeArg && shape is null)
                {
                    return null;
                }

                int width = shape?.Width ?? (int)(WorstCase(depth) * WorstCase(topK));
                return new BoundProposer(syntax, new DraftTreeProposer(model, depth, topK, shape, sample), width);
            }

            case "heads":
            {
                TokenTreeShape? tree = args.TryGetValue("tree", out var t) ? (TokenTreeShape)t.Value : null;
                if (ArgumentsOf(syntax).Any(a => a.Name?.Text == "tree") && tree is null)
                {
                    return null;
                }

                ModelPlan? medusa = _strategy.Models.FirstOrDefault(x => x.Role == model);
                int heads = (int)WorstCase(medusa?.Heads, 1);
                if (tree is not null && tree.MaxDepth > heads)
                {
                    Report(DiagnosticDescriptors.ValueOutOfBounds, args["tree"].Syntax.Span, $"the depth of the tree of '{model}'", tree.MaxDepth, $"at most {heads}, the number of heads of '{model}'");
                }

                return new BoundProposer(syntax, new HeadsProposer(model, sample, tree), tree?.Width ?? heads);
            }

            case "jacobi":
            {
                Expr window = ExprArg(args, "window")!;
                Expr? ngram = ExprArg(args, "ngram");
                int width = (int)(WorstCase(window) * (ngram is null ? 1 : WorstCase(ngram) - 1));
                return new BoundProposer(syntax, new JacobiProposer(window, ngram, ExprArg(args, "blocks")), width);
            }

            default: // lookup
            {
                Expr length = ExprArg(args, "length")!;
                Expr min = ExprArg(args, "min_ngram") ?? Literal.Int(1);
                return new BoundProposer(syntax, new LookupProposer(ExprArg(args, "max_ngram")!, length, min), (int)WorstCase(length));
            }
        }
    }

    /// <summary>A runtime param that sizes the proposal cannot be folded: buffers take its upper bound.</summary>
    private void ReportRuntimeSizes(Dictionary<string, BoundArgument> args)
    {
        foreach (BoundArgument arg in args.Values)
        {
            if (arg.Parameter.Kind == ArgKind.Int && arg.Value is ParamRef reference &&
                _strategy.Params.FirstOrDefault(p => p.Name == reference.Name) is { Runtime: true } param)
            {
                Report(DiagnosticDescriptors.RuntimeParamSizesBuffers, arg.Syntax.Span, param.Name, WorstCase(reference));
            }
        }
    }

    private void BindVerify(BoundStep step, VerifySyntax syntax)
    {
        step.Verify = syntax;
        step.VerifyModel = BindModelReference(syntax.Target, new[] { ModelKind.Causal }, "'verify'") ?? string.Empty;
        if (syntax.Mode is null)
        {
            return;
        }

        string? mode = NameOf(syntax.Mode);
        if (mode is not ("chain" or "tree") || syntax.Mode is CallExpressionSyntax { Receiver: not null })
        {
            ReportUnknownChoice("verify mode", syntax.Mode, new[] { "chain", "tree", "tree(max_width: n)" });
            return;
        }

        step.ExplicitMode = mode == "tree" ? VerifyMode.Tree : VerifyMode.Chain;
        var args = BindArguments(syntax.Mode, PrimitiveCatalog.VerifyMode, mode);
        if (ExprArg(args, "max_width") is { } max)
        {
            step.MaxWidth = (int)WorstCase(max, PrimitiveCatalog.DefaultMaxWidth);
        }
    }

    private void BindAccept(BoundStep step, AcceptSyntax syntax)
    {
        step.AcceptSyntax = syntax;
        switch (NameOf(syntax.Rule))
        {
            case "greedy" when syntax.Rule is NameExpressionSyntax:
                step.Accept = new GreedyAccept();
                break;
            case "rejection":
            {
                var args = BindArguments(syntax.Rule, PrimitiveCatalog.Rejection);
                step.Accept = new RejectionAccept(ExprArg(args, "temperature"));
                break;
            }

            case "typical":
            {
                var args = BindArguments(syntax.Rule, PrimitiveCatalog.Typical);
                if (ExprArg(args, "eps") is { } eps && ExprArg(args, "delta") is { } delta)
                {
                    step.Accept = new TypicalAccept(eps, delta, ExprArg(args, "temperature"));
                }

                break;
            }

            default:
                ReportUnknownChoice("acceptance rule", syntax.Rule, PrimitiveCatalog.AcceptRules);
                break;
        }
    }

    private void BindPredict(BoundStep step, PredictSyntax syntax)
    {
        step.PredictSyntax = syntax;
        step.Predict = BindModelReference(syntax.Model, new[] { ModelKind.Masked }, "'predict'") ?? string.Empty;
    }

    private void BindCommit(BoundStep step, CommitSyntax syntax)
    {
        step.CommitSyntax = syntax;
        Expr? atLeast = syntax.AtLeast is null ? null : BindNumber(syntax.AtLeast, new ParameterSignature("at least", ArgKind.Int, Min: 1), "commit");
        var threshold = new ParameterSignature("threshold", ArgKind.Float, Min: 0, Max: 1);
        ExpressionSyntax rule = syntax.Rule;
        if (IsMissing(rule))
        {
            return;
        }

        if (syntax.Operand is not null && NameOf(rule) != "top")
        {
            Report(DiagnosticDescriptors.ExpectedEndOfLine, syntax.Operand.Span, $"'{Text(syntax.Operand)}'", $"'commit {Text(rule)}'");
            return;
        }

        CommitPlan? plan = null;
        switch (rule)
        {
            case NameExpressionSyntax { Identifier.Text: "one" }:
                plan = new OneCommit();
                break;
            case NameExpressionSyntax { Identifier.Text: "draft_verify" }:
                plan = new DraftVerifyCommit();
                break;
            case NameExpressionSyntax { Identifier.Text: "top" }:
                if (syntax.Operand is null)
                {
                    Report(DiagnosticDescriptors.MissingArgument, rule.Span, "commit top", "k", "how many positions to commit per step, e.g. 'commit top 2'");
                    return;
                }

                if (BindNumber(syntax.Operand, new ParameterSignature("k", ArgKind.Int, Min: 1), "commit top") is { } k)
                {
                    plan = new TopKCommit(k);
                }

                break;
            case CallExpressionSyntax { Receiver: null, Identifier.Text: "factor" }:
            {
                var args = BindArguments(rule, PrimitiveCatalog.Factor);
                plan = ExprArg(args, "f") is { } f ? new FactorCommit(f, atLeast) : null;
                break;
            }

            case CallExpressionSyntax { Receiver: null, Identifier.Text: "local" }:
            {
                var args = BindArguments(rule, PrimitiveCatalog.Local);
                plan = ExprArg(args, "anchor") is { } anchor && ExprArg(args, "radius") is { } radius ? new LocalCommit(anchor, radius, atLeast) : null;
                break;
            }

            case ComparisonExpressionSyntax comparison:
            {
                Expr? value = BindNumber(comparison.Right, threshold, "commit");
                switch (comparison.Left)
                {
                    case NameExpressionSyntax { Identifier.Text: "confidence" }:
                        plan = value is null ? null : new ConfidenceCommit(value, atLeast);
                        break;
                    case NameExpressionSyntax { Identifier.Text: "margin" }:
                        plan = value is null ? null : new MarginCommit(value, atLeast);
                        break;
                    case CallExpressionSyntax { Receiver: null, Identifier.Text: "credit" }:
                    {
                        var args = BindArguments(comparison.Left, PrimitiveCatalog.Credit);
                        plan = value is not null && args.TryGetValue("state", out var state) ? new CreditCommit((string)state.Value, value, atLeast) : null;
                        break;
                    }

                    default:
                        ReportUnknownChoice("commit rule", comparison.Left, PrimitiveCatalog.CommitRules);
                        return;
                }

                break;
            }

            default:
                ReportUnknownChoice("commit rule", rule, PrimitiveCatalog.CommitRules);
                return;
        }

        step.Commit = plan;
    }

    private void BindBlock(BoundStep step, BlockSyntax syntax)
    {
        if (syntax.Rule is CallExpressionSyntax { Receiver: null, Identifier.Text: "adaptive" })
        {
            var args = BindArguments(syntax.Rule, PrimitiveCatalog.Adaptive);
            if (ExprArg(args, "min") is { } min && ExprArg(args, "max") is { } max)
            {
                if (WorstCase(min) > WorstCase(max))
                {
                    Report(DiagnosticDescriptors.EmptyRange, syntax.Rule.Span, $"{min}..{max}");
                    return;
                }

                step.Block = new AdaptiveBlock(min, max, ExprArg(args, "delimiter"));
            }

            return;
        }

        ReportUnknownChoice("block rule", syntax.Rule, new[] { "adaptive(min: a, max: b, delimiter: p)" });
    }

    private void BindUpdate(BoundStep step, UpdateSyntax syntax)
    {
        if (syntax.State.IsMissing || syntax.Source.IsMissing)
        {
            return;
        }

        StatePlan? state = _strategy.States.FirstOrDefault(s => s.Name == syntax.State.Text);
        if (state is null)
        {
            if (!_names.ContainsKey(syntax.State.Text))
            {
                ReportUnknownName(syntax.State, "state", _strategy.States.Select(s => s.Name));
            }

            return;
        }

        // Which step output can feed which state: a pool learns n-grams from the Jacobi window or the
        // text so far; credits accumulate the masked model's confidences; a length adapts to acceptance.
        string[] sources = state.Kind switch
        {
            StateKind.NgramPool => step.Proposers.Any(p => p.Plan is JacobiProposer) ? new[] { "jacobi", "context" } : new[] { "context" },
            StateKind.Credits => new[] { "predict" },
            _ => new[] { "accept" },
        };

        if (!sources.Contains(syntax.Source.Text))
        {
            Report(DiagnosticDescriptors.InvalidUpdateSource, syntax.Source.Span, state.Name, StatePlan.KindName(state.Kind), syntax.Source.Text, string.Join(", ", sources));
            return;
        }

        step.Updates.Add(new UpdatePlan(state.Name, syntax.Source.Text));
    }

    private void BindStop(StopSyntax syntax)
    {
        foreach (ExpressionSyntax condition in syntax.Conditions)
        {
            if (IsMissing(condition))
            {
                continue;
            }

            StopPlan? plan = null;
            switch (condition)
            {
                case NameExpressionSyntax { Identifier.Text: "eos" }:
                    plan = new EosStop();
                    break;
                case NameExpressionSyntax { Identifier.Text: "stop_strings" }:
                    plan = new StopStringsStop();
                    break;
                case NameExpressionSyntax { Identifier.Text: "max_tokens" }:
                case CallExpressionSyntax { Receiver: null, Identifier.Text: "max_tokens" }:
                    plan = new MaxTokensStop(ExprArg(BindArguments(condition, PrimitiveCatalog.MaxTokens), "limit"));
                    break;
                case CallExpressionSyntax { Receiver: null, Identifier.Text: "eot" }:
                case ComparisonExpressionSyntax { Left: NameExpressionSyntax { Identifier.Text: "eot" } }:
                {
                    if (CanvasKind != CanvasKind.Masked)
                    {
                        Report(DiagnosticDescriptors.PrimitiveOnCanvas, condition.Span, "eot", "masked", _strategy.Name, "causal");
                        continue;
                    }

                    Expr? threshold = condition is ComparisonExpressionSyntax comparison
                        ? BindNumber(comparison.Right, PrimitiveCatalog.Eot.Parameters[0], "eot")
                        : ExprArg(BindArguments(condition, PrimitiveCatalog.Eot), "threshold");
                    plan = threshold is null ? null : new EotStop(threshold);
                    break;
                }

                default:
                    ReportUnknownChoice("stop condition", condition, PrimitiveCatalog.StopConditions);
                    break;
            }

            if (plan is not null)
            {
                _strategy.Stops.Add(plan);
            }
        }
    }

    // ---- Rules across the whole strategy ----

    private void CheckStrategy()
    {
        BoundStep? step = _strategy.Step;
        if (_strategy.Canvas is { Kind: CanvasKind.Masked } && !_strategy.Syntax.Members.OfType<StopSyntax>().Any())
        {
            Report(DiagnosticDescriptors.MaskedWithoutStop, _strategy.Syntax.Identifier.Span, _strategy.Name);
        }

        if (step is null)
        {
            return;
        }

        if (CanvasKind == CanvasKind.Causal)
        {
            CheckGuaranteeCausal(step);
            CheckVerifyShape(step);
            CheckWidth(step);
        }
        else if (_strategy.Guarantee != Guarantee.None && step.Commit is { IsLossless: false } commit)
        {
            Report(DiagnosticDescriptors.LossyRuleUnderLossless, step.CommitSyntax!.Rule.Span, "commit " + commit, "'commit one' or 'commit draft_verify'");
        }
    }

    private void CheckGuaranteeCausal(BoundStep step)
    {
        if (step.Accept is null)
        {
            return;
        }

        ExpressionSyntax rule = step.AcceptSyntax!.Rule;
        if (_strategy.Guarantee == Guarantee.Lossless && !step.Accept.IsLossless)
        {
            Report(DiagnosticDescriptors.LossyRuleUnderLossless, rule.Span, "accept " + NameOf(rule), "'accept greedy' or 'accept rejection'");
        }

        if (_strategy.Guarantee == Guarantee.Distribution && step.Accept is not RejectionAccept)
        {
            Report(DiagnosticDescriptors.DistributionNeedsRejection, rule.Span, "accept " + NameOf(rule));
        }

        if (step.Accept is RejectionAccept)
        {
            foreach (BoundProposer proposer in step.Proposers.Where(p => !p.Plan.HasProbabilities))
            {
                string hint = proposer.Plan is DraftProposer or SelfDraftProposer or HeadsProposer or DraftTreeProposer
                    ? $"add 'sample' to '{NameOf(proposer.Syntax)}'"
                    : "draft, self_draft, heads, draft_tree";
                Report(DiagnosticDescriptors.RejectionWithoutProbabilities, proposer.Syntax.Span, NameOf(proposer.Syntax) ?? string.Empty, hint);
            }
        }
    }

    private void CheckVerifyShape(BoundStep step)
    {
        if (step.ExplicitMode is null || step.Proposers.Count == 0)
        {
            return;
        }

        string target = step.Verify!.Target.Text;
        if (step.ExplicitMode == VerifyMode.Tree && step.InferredMode == VerifyMode.Chain)
        {
            Report(DiagnosticDescriptors.TreeVerifyWithChain, step.Verify.Mode!.Span, target, $"'{NameOf(step.Proposers[0].Syntax)}'", "draft_tree, heads(tree: ...), <pool>.match, jacobi(ngram: n), or p1 + p2");
        }
        else if (step.ExplicitMode == VerifyMode.Chain && step.InferredMode == VerifyMode.Tree)
        {
            BoundProposer culprit = step.Proposers.FirstOrDefault(p => p.Plan.Shape == ProposalShape.Tree) ?? step.Proposers[1];
            Report(DiagnosticDescriptors.ChainVerifyWithTree, culprit.Syntax.Span, target, NameOf(culprit.Syntax) ?? string.Empty);
        }
    }

    private void CheckWidth(BoundStep step)
    {
        int max = step.MaxWidth;
        foreach (BoundProposer proposer in step.Proposers)
        {
            TokenTreeShape? tree = proposer.Plan switch
            {
                HeadsProposer h => h.Tree,
                DraftTreeProposer d => d.Tree,
                _ => null,
            };

            if (tree is not null && tree.Width > max)
            {
                ExpressionSyntax argument = ArgumentsOf(proposer.Syntax).First(a => a.Name?.Text is "tree" or "shape").Value;
                Report(DiagnosticDescriptors.TreeTooWide, argument.Span, tree.Width, max);
                return;
            }
        }

        // Lookahead decoding's verify budget: W window columns and G guesses, each N-1 tokens long.
        if (step.Proposers.FirstOrDefault(p => p.Plan is JacobiProposer { Ngram: not null }) is { Plan: JacobiProposer jacobi })
        {
            int w = (int)WorstCase(jacobi.Window);
            int n = (int)WorstCase(jacobi.Ngram);
            int g = (int)step.Proposers.Where(p => p.Plan is PoolMatchProposer).Sum(p => WorstCase(((PoolMatchProposer)p.Plan).Guesses));
            int budget = (w + g) * (n - 1);
            if (budget > max)
            {
                Report(DiagnosticDescriptors.LookaheadBudget, ProposalSpan(step), w, g, n, budget, max);
            }

            return;
        }

        if (step.Width > max)
        {
            string mode = (step.ExplicitMode ?? step.InferredMode).ToString().ToLowerInvariant();
            Report(DiagnosticDescriptors.VerifyTooWide, ProposalSpan(step), step.Width, max, mode);
        }
    }

    private static TextSpan ProposalSpan(BoundStep step) =>
        TextSpan.FromBounds(step.Proposers[0].Syntax.Span.Start, step.Proposers[step.Proposers.Count - 1].Syntax.Span.End);
}
