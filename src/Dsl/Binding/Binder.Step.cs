using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Collections;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
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
        StatePlan? receiver = null;
        PrimitiveDescriptor? descriptor;
        string display;
        if (syntax is CallExpressionSyntax { Receiver: { } receiverToken } member)
        {
            // A method on a state (pool.match): the state's kind says which methods exist.
            string? state = BindStateReference(receiverToken, null, "'." + member.Identifier.Text + "'");
            receiver = state is null ? null : _strategy.States.First(s => s.Name == state);
            var methods = _library.OfRole(PrimitiveRole.Proposer).Where(d => d.Receiver is not null && (receiver is null || d.Receiver == receiver.Kind)).ToList();
            descriptor = methods.FirstOrDefault(d => d.Name == member.Identifier.Text);
            display = receiverToken.Text + "." + member.Identifier.Text;
            if (descriptor is null && receiver is not null
                && _library.OfRole(PrimitiveRole.Proposer).FirstOrDefault(d => d.Name == member.Identifier.Text && d.Receiver is not null) is { Receiver: { } wanted })
            {
                // The method exists, on another kind of state (len.match on an adaptive_length).
                Report(DiagnosticDescriptors.WrongRoleKind, receiverToken.Span, receiver.Name, "a " + StatePlan.KindName(receiver.Kind) + " state",
                    "'." + member.Identifier.Text + "'", "a " + StatePlan.KindName(wanted) + " state");
                return null;
            }

            if (descriptor is null)
            {
                if (receiver is not null || methods.Count == 0)
                {
                    Report(DiagnosticDescriptors.UnknownPrimitive, member.Identifier.Span, display,
                        methods.Count == 0 ? "none" : string.Join(", ", methods.Select(d => receiverToken.Text + "." + d.Usage.Substring(d.Usage.IndexOf('.') + 1))), string.Empty);
                }

                return null;
            }
        }
        else
        {
            string? name = NameOf(syntax);
            descriptor = name is null ? null : _library.Find(PrimitiveRole.Proposer, name);
            if (name is null || descriptor is null)
            {
                string text = name ?? Text(syntax);
                SyntaxNode at = syntax is CallExpressionSyntax call ? call.Identifier : syntax;
                Report(DiagnosticDescriptors.UnknownPrimitive, at.Span, text, ProposerNames(),
                    NameSuggester.Hint(text, _library.OfRole(PrimitiveRole.Proposer).Where(d => d.Receiver is null).Select(d => d.Name)));
                return null;
            }

            display = descriptor.Name;
        }

        var args = BindArguments(syntax, descriptor.Signature, display);
        ReportRuntimeSizes(args);
        if (receiver is null && descriptor.Receiver is not null)
        {
            return null;
        }

        if (!CheckCanvas(descriptor, syntax))
        {
            return null;
        }

        if (args.Count(a => a.Value.Parameter.Required) < descriptor.Parameters.Count(p => p.Required))
        {
            return null;
        }

        // A tree that was written but did not bind has been reported; the primitive cannot be built without it.
        if (descriptor.Parameters.Any(p => p.Kind == ArgKind.Tree && !args.ContainsKey(p.Name) && ArgumentsOf(syntax).Any(a => a.Name?.Text == p.Name)))
        {
            return null;
        }

        PrimitiveForm? form = ChooseForm(descriptor, args);
        if (form is null)
        {
            string missing = descriptor.Forms.SelectMany(f => f.Requires ?? System.Array.Empty<string>()).First(r => !args.ContainsKey(r));
            string ways = string.Join(", or ", descriptor.Forms.Select(f => f.When is { } when ? when + ": ..." : string.Join(" and ", (f.Requires ?? System.Array.Empty<string>()).Select(r => r + ": ..."))));
            Report(DiagnosticDescriptors.MissingArgument, syntax.Span, descriptor.Name, missing, "give " + ways);
            return null;
        }

        CheckTreeDepths(descriptor, args);
        CheckRules(descriptor, args, syntax);
        foreach (BoundArgument engine in args.Values.Where(a => a.Value is EngineBinding))
        {
            string model = args.Values.FirstOrDefault(a => a.Parameter.Kind == ArgKind.Model)?.Value as string ?? string.Empty;
            if (!CompleteEngine((EngineBinding)engine.Value, model, (ExpressionSyntax)engine.Syntax))
            {
                return null;
            }
        }

        var arguments = new PrimitiveArguments(args, receiver?.Name);
        bool probabilities = descriptor.ProbabilityFlag is { } flag && args.ContainsKey(flag);
        ProposerPlan plan = descriptor.Proposal?.Invoke(arguments)
            ?? new PrimitiveProposer(descriptor.Name, receiver?.Name, NamedExprs(descriptor, args), form.Shape, probabilities);
        return new BoundProposer(syntax, plan, Width(form.Width, args, receiver), descriptor, form, args, receiver);
    }

    private string ProposerNames() => _library.Describe(PrimitiveRole.Proposer);

    private static string ReceiverLabel(StateKind kind) => PrimitiveLibrary.ReceiverLabel(kind);

    private bool CheckCanvas(PrimitiveDescriptor descriptor, SyntaxNode syntax)
    {
        if (descriptor.Canvases.Contains(CanvasKind))
        {
            return true;
        }

        Report(DiagnosticDescriptors.PrimitiveOnCanvas, syntax.Span, descriptor.Name, string.Join(" or ", descriptor.Canvases.Select(c => c.ToString().ToLowerInvariant())),
            _strategy.Name, CanvasKind.ToString().ToLowerInvariant());
        return false;
    }

    private static PrimitiveForm? ChooseForm(PrimitiveDescriptor descriptor, Dictionary<string, BoundArgument> args) =>
        descriptor.Forms.FirstOrDefault(f => (f.When is null || args.ContainsKey(f.When)) && (f.Requires ?? System.Array.Empty<string>()).All(args.ContainsKey));

    private static EquatableArray<NamedExpr> NamedExprs(PrimitiveDescriptor descriptor, Dictionary<string, BoundArgument> args) =>
        descriptor.Parameters.Where(p => args.TryGetValue(p.Name, out var a) && a.Value is Expr).Select(p => new NamedExpr(p.Name, (Expr)args[p.Name].Value)).ToEquatableArray();

    /// <summary>
    /// The relations between parameters the runtime type checks when it is built (min_ngram &lt;= max_ngram, a window
    /// that cuts into equal blocks), checked here instead, on the values the generated decoder folds (the defaults).
    /// </summary>
    private void CheckRules(PrimitiveDescriptor descriptor, Dictionary<string, BoundArgument> args, ExpressionSyntax syntax)
    {
        double? Value(string name)
        {
            if (args.TryGetValue(name, out var a))
            {
                return a.Value switch
                {
                    Literal l => l.Value,
                    ParamRef p when _strategy.Params.FirstOrDefault(x => x.Name == p.Name) is { } param => param.Default.Value,
                    _ => null,
                };
            }

            return descriptor.Find(name)?.Default?.Value;
        }

        SyntaxNode At(string name) => args.TryGetValue(name, out var a) ? a.Syntax : syntax;

        foreach (ParameterRule rule in descriptor.Rules ?? System.Array.Empty<ParameterRule>())
        {
            switch (rule)
            {
                case AtMostRule r when Value(r.Low) is { } low && Value(r.High) is { } high && low > high:
                    Report(DiagnosticDescriptors.ParameterOrder, At(r.Low).Span, r.Low, Expr.Format(low, ParamType.Int), descriptor.Name, r.High, Expr.Format(high, ParamType.Int));
                    break;
                case ExcludesRule r when args.ContainsKey(r.A) && args.ContainsKey(r.B):
                    Report(DiagnosticDescriptors.ExclusiveArguments, At(r.B).Span, r.A, r.B, descriptor.Name, r.Why);
                    break;
                case MultipleOfRule r when Value(r.Value) is { } value && Value(r.Of) is { } of && of > 0 && value % of != 0:
                    Report(DiagnosticDescriptors.NotAMultiple, At(r.Value).Span, r.Value, Expr.Format(value, ParamType.Int), descriptor.Name, r.Of, Expr.Format(of, ParamType.Int), r.Why);
                    break;
            }
        }
    }

    /// <summary>
    /// A batched canvas runs one engine (one draft chain per row, greedy acceptance per row): a primitive is available
    /// there only if its descriptor says which of its parameters that engine honours, and only those may be given.
    /// </summary>
    private void CheckBatched(BoundStep step)
    {
        const string Engine = "a batched canvas decodes one draft(...) or self_draft(...) chain per row (model and length only) and accepts greedily";
        if (step.Proposers.Count > 1)
        {
            Report(DiagnosticDescriptors.NotOnBatchedCanvas, ProposalSpan(step), "More than one proposer", Engine);
        }

        foreach (BoundProposer proposer in step.Proposers)
        {
            if (proposer.Descriptor.Batched is not { } honoured)
            {
                Report(DiagnosticDescriptors.NotOnBatchedCanvas, proposer.Syntax.Span, $"'{NameOf(proposer.Syntax)}'", Engine);
                continue;
            }

            foreach (BoundArgument argument in proposer.Arguments.Values)
            {
                if (!honoured.Contains(argument.Parameter.Name))
                {
                    Report(DiagnosticDescriptors.NotOnBatchedCanvas, argument.Syntax.Span, $"'{argument.Parameter.Name}' of '{proposer.Descriptor.Name}'", Engine);
                }
                else if (argument.Value is StateRef state)
                {
                    Report(DiagnosticDescriptors.NotOnBatchedCanvas, argument.Syntax.Span, $"A length bound to the state '{state.Name}'", Engine);
                }
            }
        }

        if (step.AcceptPrimitive is { Descriptor.Batched: null } accept)
        {
            Report(DiagnosticDescriptors.NotOnBatchedCanvas, step.AcceptSyntax!.Rule.Span, $"'accept {accept.Descriptor.Name}'", Engine);
        }
    }

    /// <summary>A static tree on a medusa(...) model can be no deeper than the model has heads: head d proposes depth d.</summary>
    private void CheckTreeDepths(PrimitiveDescriptor descriptor, Dictionary<string, BoundArgument> args)
    {
        foreach (BoundArgument tree in args.Values.Where(a => a.Parameter.Kind == ArgKind.Tree))
        {
            foreach (BoundArgument model in args.Values.Where(a => a.Parameter.Kind == ArgKind.Model))
            {
                if (_strategy.Models.FirstOrDefault(m => m.Role == (string)model.Value) is { Kind: ModelKind.Medusa } medusa)
                {
                    int heads = (int)WorstCase(medusa.Heads, 1);
                    var shape = (TokenTreeShape)tree.Value;
                    if (shape.MaxDepth > heads)
                    {
                        Report(DiagnosticDescriptors.ValueOutOfBounds, tree.Syntax.Span, $"the depth of the tree of '{medusa.Role}'", shape.MaxDepth, $"at most {heads}, the number of heads of '{medusa.Role}'");
                    }
                }
            }
        }
    }

    /// <summary>The worst-case number of candidate tokens a form proposes, from its descriptor's width rule.</summary>
    private int Width(WidthRule? rule, Dictionary<string, BoundArgument> args, StatePlan? receiver)
    {
        double Arg(string name) => args.TryGetValue(name, out var a) && a.Value is Expr e ? WorstCase(e)
            : args.TryGetValue(name, out var m) && m.Value is string role && _strategy.Models.FirstOrDefault(x => x.Role == role) is { } model ? WorstCase(model.Heads, 1)
            : 0;
        return rule switch
        {
            ParamWidth p => (int)Arg(p.Parameter),
            ProductWidth p => (int)(Arg(p.A) * Arg(p.B)),
            TreeWidth t => args.TryGetValue(t.Parameter, out var tree) && tree.Value is TokenTreeShape shape ? shape.Width : 0,
            HeadsWidth h => (int)Arg(h.Parameter),
            NgramTailsWidth n => (int)(Arg(n.PerParameter) * (WorstCase(receiver?.Arg(n.ReceiverSize), 2) - 1)),
            _ => 0,
        };
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
        string? name = syntax.Rule is CallExpressionSyntax { Receiver: not null } ? null : NameOf(syntax.Rule);
        PrimitiveDescriptor? descriptor = name is null ? null : _library.Find(PrimitiveRole.Acceptance, name);
        if (descriptor is null || (descriptor.Parameters.Count == 0 && syntax.Rule is not NameExpressionSyntax))
        {
            ReportUnknownChoice("acceptance rule", syntax.Rule, _library.OfRole(PrimitiveRole.Acceptance).Select(d => d.Usage).ToArray());
            return;
        }

        var args = BindArguments(syntax.Rule, descriptor.Signature);
        if (!CheckCanvas(descriptor, syntax.Rule) || args.Count(a => a.Value.Parameter.Required) < descriptor.Parameters.Count(p => p.Required))
        {
            return;
        }

        PrimitiveForm? form = ChooseForm(descriptor, args);
        if (form is null)
        {
            return;
        }

        CheckRules(descriptor, args, syntax.Rule);
        step.Accept = descriptor.Accept?.Invoke(new PrimitiveArguments(args, null))
            ?? new PrimitiveAccept(descriptor.Name, (descriptor.Preserves & Preserves.Lossless) != 0, NamedExprs(descriptor, args));
        step.AcceptPrimitive = new BoundPrimitive(descriptor, form, args, null);
    }

    private void BindPredict(BoundStep step, PredictSyntax syntax)
    {
        step.PredictSyntax = syntax;
        step.Predict = BindModelReference(syntax.Model, new[] { ModelKind.Masked }, "'predict'") ?? string.Empty;
    }

    private void BindCommit(BoundStep step, CommitSyntax syntax)
    {
        step.CommitSyntax = syntax;
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

        // The rule's written form names its descriptor: a word (one, top k), a call (factor(f)), or a comparison whose
        // left side is a word or a call (confidence >= t, credit(s) >= t) and whose right side is the threshold.
        ExpressionSyntax head = rule is ComparisonExpressionSyntax comparison ? comparison.Left : rule;
        string? name = head is CallExpressionSyntax { Receiver: not null } ? null : NameOf(head);
        PrimitiveDescriptor? descriptor = name is null ? null : _library.Find(PrimitiveRole.Commit, name);
        // The descriptor's written form says which shape it takes: 'confidence >= t', 'credit(state) >= t', 'top k', 'factor(f)', 'one'.
        string usage = descriptor?.Usage ?? string.Empty;
        string written = usage.Split(' ')[0];
        bool wantsComparison = usage.Contains(">=");
        bool wantsCall = written.Contains("(");
        bool wantsOperand = !wantsComparison && !wantsCall && usage.Contains(" ");
        if (descriptor is null || (rule is ComparisonExpressionSyntax) != wantsComparison || (head is CallExpressionSyntax) != wantsCall)
        {
            ReportUnknownChoice("commit rule", head, _library.OfRole(PrimitiveRole.Commit).Select(d => d.Usage).ToArray());
            return;
        }

        var args = head is CallExpressionSyntax ? BindArguments(head, CallSignature(descriptor, wantsComparison), descriptor.Name) : new Dictionary<string, BoundArgument>();
        if (wantsOperand)
        {
            ParameterSignature operand = descriptor.Parameters.First(p => p.Required);
            if (syntax.Operand is null)
            {
                Report(DiagnosticDescriptors.MissingArgument, rule.Span, "commit " + descriptor.Name, operand.Name, operand.Description + ", e.g. 'commit top 2'");
                return;
            }

            BindInto(args, operand, syntax.Operand, "commit " + descriptor.Name);
        }

        if (rule is ComparisonExpressionSyntax { Right: { } right })
        {
            BindInto(args, descriptor.Find("threshold")!, right, "commit");
        }

        if (syntax.AtLeast is { } atLeast && descriptor.Find("at_least") is { } atLeastParameter)
        {
            BindInto(args, atLeastParameter, atLeast, "commit");
        }

        if (!CheckCanvas(descriptor, rule) || descriptor.Parameters.Any(p => p.Required && !args.ContainsKey(p.Name)) || ChooseForm(descriptor, args) is not { } form)
        {
            return;
        }

        step.Commit = descriptor.Commit?.Invoke(new PrimitiveArguments(args, null));
        step.CommitPrimitive = new BoundPrimitive(descriptor, form, args, null);
    }

    /// <summary>The parameters written inside a commit rule's call: all but the comparison's threshold and 'at least'.</summary>
    private static PrimitiveSignature CallSignature(PrimitiveDescriptor descriptor, bool compared) =>
        new(descriptor.Name, descriptor.Parameters.Where(p => p.Name != "at_least" && !(compared && p.Name == "threshold")).ToArray());

    private void BindInto(Dictionary<string, BoundArgument> args, ParameterSignature parameter, ExpressionSyntax value, string owner)
    {
        if (BindNumber(value, parameter, owner) is { } bound)
        {
            args[parameter.Name] = new BoundArgument(parameter, value, bound);
        }
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

                step.Block = new AdaptiveBlockPlan(min, max, ExprArg(args, "delimiter"));
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

        // Which step output can feed which state is the state's descriptor's to say; an update fed by a proposer
        // (a pool learning from the Jacobi window) needs that proposer in the step.
        PrimitiveDescriptor? descriptor = _library.Find(PrimitiveRole.State, StatePlan.KindName(state.Kind));
        string[] sources = (descriptor?.Updates ?? System.Array.Empty<StateUpdate>())
            .Where(u => u.FromPrimitive is null || step.Proposers.Any(p => p.Descriptor.Name == u.FromPrimitive))
            .Select(u => u.Source).ToArray();

        if (!sources.Contains(syntax.Source.Text))
        {
            Report(DiagnosticDescriptors.InvalidUpdateSource, syntax.Source.Span, state.Name, StatePlan.KindName(state.Kind), syntax.Source.Text, sources.Length == 0 ? "none" : string.Join(", ", sources));
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
                    plan = threshold is null ? null : new EotStopPlan(threshold);
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

        CheckGuarantee(step);
        if (CanvasKind == CanvasKind.Causal)
        {
            CheckConstraintComposition(step);
            CheckGuaranteeCausal(step);
            CheckVerifyShape(step);
            CheckWidth(step);
            if (_strategy.Canvas?.Batch is not null)
            {
                CheckBatched(step);
            }
        }
        else
        {
            if (step.CommitPrimitive is { Descriptor.CommitsBeyondBlock: true } beyond && _strategy.Constraint is not null
                && _strategy.Syntax.Members.OfType<ConstrainSyntax>().FirstOrDefault() is { } constrain)
            {
                Report(DiagnosticDescriptors.ConstraintOnMaskedCanvas, constrain.Constraint.Span, Text(constrain.Constraint), _strategy.Name,
                    "'commit " + beyond.Descriptor.Name + "' commits positions after the current block, and a masked canvas follows a constraint block by block (DINGO)");
            }

            // What the commit rule's runtime type refuses at construction, from its descriptor.
            if (step.CommitPrimitive is { Descriptor: { Caches: { } caches } descriptor } && !caches.Contains(_strategy.Canvas!.Cache))
            {
                string cache = _strategy.Canvas.Cache.ToString().ToLowerInvariant();
                if ((descriptor.Preserves & Preserves.Lossless) != 0)
                {
                    Report(DiagnosticDescriptors.DraftVerifyNeedsExactCache, step.CommitSyntax!.Rule.Span, descriptor.Name, _strategy.Name, cache);
                }
                else
                {
                    Report(DiagnosticDescriptors.CommitRuleCache, step.CommitSyntax!.Rule.Span, descriptor.Name, _strategy.Name, cache,
                        string.Join(", ", caches.Select(c => "'cache " + c.ToString().ToLowerInvariant() + "'")), descriptor.CachesWhy ?? "its runtime type refuses it");
                }
            }

            CheckDenoiser(step);
        }
    }

    private void CheckGuaranteeCausal(BoundStep step)
    {
        if (step.Accept is null)
        {
            return;
        }

        if (step.Accept is RejectionAccept)
        {
            string sampling = string.Join(", ", _library.OfRole(PrimitiveRole.Proposer).Where(d => d.ProbabilityFlag is not null).Select(d => d.Name));
            foreach (BoundProposer proposer in step.Proposers.Where(p => !p.HasProbabilities))
            {
                string hint = proposer.Descriptor.ProbabilityFlag is { } flag ? $"add '{flag}' to '{NameOf(proposer.Syntax)}'" : sampling;
                Report(DiagnosticDescriptors.RejectionWithoutProbabilities, proposer.Syntax.Span, NameOf(proposer.Syntax) ?? string.Empty, hint);
            }

            // The rejection sampler walks one chain; with several sampled proposers (or a tree of them) it could not run.
            if (step.Proposers.Count > 0 && step.Proposers.All(p => p.HasProbabilities) && step.InferredMode == VerifyMode.Tree)
            {
                string what = step.Proposers.Count > 1 ? "proposing from " + step.Proposers.Count + " sources" : $"'{NameOf(step.Proposers[0].Syntax)}'";
                Report(DiagnosticDescriptors.RejectionNeedsChain, ProposalSpan(step), what);
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
            string trees = string.Join(", ", _library.OfRole(PrimitiveRole.Proposer)
                .SelectMany(d => d.Forms.Where(f => f.Shape == ProposalShape.Tree).Take(1).Select(f => (d.Receiver is { } kind ? "<" + ReceiverLabel(kind) + ">." : string.Empty) + d.Name + (f.When is { } when ? "(" + when + ": ...)" : string.Empty))));
            Report(DiagnosticDescriptors.TreeVerifyWithChain, step.Verify.Mode!.Span, target, $"'{NameOf(step.Proposers[0].Syntax)}'", trees + ", or p1 + p2");
        }
        else if (step.ExplicitMode == VerifyMode.Chain && step.InferredMode == VerifyMode.Tree)
        {
            BoundProposer culprit = step.Proposers.FirstOrDefault(p => p.Shape == ProposalShape.Tree) ?? step.Proposers[1];
            Report(DiagnosticDescriptors.ChainVerifyWithTree, culprit.Syntax.Span, target, NameOf(culprit.Syntax) ?? string.Empty);
        }
    }

    private void CheckWidth(BoundStep step)
    {
        int max = step.MaxWidth;
        foreach (BoundProposer proposer in step.Proposers)
        {
            // A static tree too wide on its own is pointed at directly.
            if (proposer.Form.Width is TreeWidth rule && proposer.Arguments.TryGetValue(rule.Parameter, out var argument) && ((TokenTreeShape)argument.Value).Width > max)
            {
                Report(DiagnosticDescriptors.TreeTooWide, argument.Syntax.Span, ((TokenTreeShape)argument.Value).Width, max);
                return;
            }
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
