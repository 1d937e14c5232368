using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Collections;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Syntax;

namespace Pardec.Dsl.Binding;

/// <summary>A bound argument: the syntax it came from and its value (Expr, role/state name, flag, tree or range).</summary>
public sealed record BoundArgument(ParameterSignature Parameter, SyntaxNode Syntax, object Value);

/// <summary>A proposer with its syntax (for diagnostics) and its worst-case number of candidate tokens.</summary>
public sealed record BoundProposer(ExpressionSyntax Syntax, ProposerPlan Plan, int Width);

/// <summary>The bound step: plan pieces, each next to the syntax it came from.</summary>
public sealed class BoundStep
{
    public BoundStep(StepSyntax syntax) => Syntax = syntax;

    public StepSyntax Syntax { get; }

    public List<BoundProposer> Proposers { get; } = new();

    public ProposeSyntax? Propose { get; set; }

    public VerifySyntax? Verify { get; set; }

    public string VerifyModel { get; set; } = string.Empty;

    public VerifyMode? ExplicitMode { get; set; }

    public int MaxWidth { get; set; } = PrimitiveCatalog.DefaultMaxWidth;

    public AcceptSyntax? AcceptSyntax { get; set; }

    public AcceptPlan? Accept { get; set; }

    public List<UpdatePlan> Updates { get; } = new();

    public PredictSyntax? PredictSyntax { get; set; }

    public string Predict { get; set; } = string.Empty;

    public CommitSyntax? CommitSyntax { get; set; }

    public CommitPlan? Commit { get; set; }

    public BlockPlan? Block { get; set; }

    public VerifyMode InferredMode =>
        Proposers.Count > 1 || Proposers.Any(p => p.Plan.Shape == ProposalShape.Tree) ? VerifyMode.Tree : VerifyMode.Chain;

    public int Width => Proposers.Sum(p => p.Width);
}

/// <summary>
/// A strategy after binding: names resolved, values typed, primitives recognised; each piece keeps its
/// syntax so cross-cutting rules can point at it. <see cref="Lower"/> drops the syntax and yields the plan.
/// </summary>
public sealed class BoundStrategy
{
    public BoundStrategy(StrategySyntax syntax) => Syntax = syntax;

    public StrategySyntax Syntax { get; }

    public string Name => Syntax.Identifier.Text;

    public string? Paper { get; set; }

    public Guarantee Guarantee { get; set; }

    public GuaranteeSyntax? GuaranteeSyntax { get; set; }

    public CanvasPlan? Canvas { get; set; }

    public List<ModelPlan> Models { get; } = new();

    public List<ParamPlan> Params { get; } = new();

    public List<StatePlan> States { get; } = new();

    public BoundStep? Step { get; set; }

    public List<StopPlan> Stops { get; } = new();

    public DecodePlan Lower()
    {
        CanvasPlan canvas = Canvas ?? new CanvasPlan(CanvasKind.Causal, null, CacheMode.Kv, null);
        BoundStep step = Step ?? new BoundStep(new StepSyntax(Syntax.Identifier, System.Array.Empty<StatementSyntax>()));
        StepPlan stepPlan = canvas.Kind == CanvasKind.Causal
            ? new CausalStepPlan(
                step.Proposers.Select(p => p.Plan).ToEquatableArray(),
                new VerifyPlan(step.VerifyModel, step.ExplicitMode ?? step.InferredMode, step.MaxWidth, step.Width),
                step.Accept ?? new GreedyAccept(),
                step.Updates.ToEquatableArray())
            : new MaskedStepPlan(step.Predict, step.Commit ?? new OneCommit(), step.Block, step.Updates.ToEquatableArray());

        return new DecodePlan(
            Name,
            Paper,
            Guarantee,
            canvas,
            Models.ToEquatableArray(),
            Params.ToEquatableArray(),
            States.ToEquatableArray(),
            stepPlan,
            Stops.ToEquatableArray());
    }
}
