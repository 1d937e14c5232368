using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Collections;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
using Pardec.Dsl.Syntax;

namespace Pardec.Dsl.Binding;

/// <summary>A bound argument: the syntax it came from and its value (Expr, role/state name, flag, tree or range).</summary>
public sealed record BoundArgument(ParameterSignature Parameter, SyntaxNode Syntax, object Value);

/// <summary>A primitive after binding: its descriptor, the form its arguments select, and the arguments.</summary>
public sealed record BoundPrimitive(PrimitiveDescriptor Descriptor, PrimitiveForm? Form, IReadOnlyDictionary<string, BoundArgument> Arguments, StatePlan? Receiver);

/// <summary>A proposer with its syntax (for diagnostics), its worst-case number of candidate tokens, and how it was bound.</summary>
public sealed record BoundProposer(
    ExpressionSyntax Syntax,
    ProposerPlan Plan,
    int Width,
    PrimitiveDescriptor Descriptor,
    PrimitiveForm Form,
    IReadOnlyDictionary<string, BoundArgument> Arguments,
    StatePlan? Receiver)
{
    public ProposalShape Shape => Form.Shape;

    public bool HasProbabilities => Descriptor.ProbabilityFlag is { } flag && Arguments.ContainsKey(flag);

    public BoundPrimitive Primitive => new(Descriptor, Form, Arguments, Receiver);
}

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

    public BoundPrimitive? AcceptPrimitive { get; set; }

    public List<UpdatePlan> Updates { get; } = new();

    public PredictSyntax? PredictSyntax { get; set; }

    public string Predict { get; set; } = string.Empty;

    public CommitSyntax? CommitSyntax { get; set; }

    public CommitPlan? Commit { get; set; }

    public BoundPrimitive? CommitPrimitive { get; set; }

    public BlockPlan? Block { get; set; }

    public VerifyMode InferredMode =>
        Proposers.Count > 1 || Proposers.Any(p => p.Shape == ProposalShape.Tree) ? VerifyMode.Tree : VerifyMode.Chain;

    public int Width => Proposers.Sum(p => p.Width);
}

/// <summary>
/// A strategy after binding: names resolved, values typed, primitives recognised; each piece keeps its
/// syntax so cross-cutting rules can point at it. <see cref="Lower"/> drops the syntax and yields the plan.
/// </summary>
public sealed class BoundStrategy
{
    public BoundStrategy(StrategySyntax syntax, PrimitiveLibrary library)
    {
        Syntax = syntax;
        Library = library;
    }

    public StrategySyntax Syntax { get; }

    public PrimitiveLibrary Library { get; }

    /// <summary>Each state's descriptor and arguments, by state name.</summary>
    public Dictionary<string, BoundPrimitive> StatePrimitives { get; } = new();

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

    /// <summary>The strategies this one runs as engines of its drafts, in the order they are named.</summary>
    public List<EngineBinding> Engines { get; } = new();

    /// <summary>Every engine, direct or an engine's own, once each (the plan prints them after the strategy).</summary>
    private EquatableArray<DecodePlan> AllEngines()
    {
        var all = new List<DecodePlan>();
        void Add(DecodePlan plan)
        {
            if (all.Any(p => p.Name == plan.Name))
            {
                return;
            }

            all.Add(plan);
            foreach (DecodePlan inner in plan.Engines)
            {
                Add(inner);
            }
        }

        foreach (EngineBinding engine in Engines)
        {
            Add(engine.Plan);
        }

        return all.Select(p => p with { Engines = default }).ToEquatableArray();
    }

    /// <summary>The <c>constrain</c> statement's primitive, its plan and its syntax (null: no statement).</summary>
    public BoundPrimitive? Constraint { get; set; }

    public ConstraintPlan? ConstraintPlan { get; set; }

    public ConstrainSyntax? ConstrainSyntax { get; set; }

    public DecodePlan Lower()
    {
        CanvasPlan canvas = Canvas ?? new CanvasPlan(CanvasKind.Causal, null, CacheMode.Kv, null);
        BoundStep step = Step ?? new BoundStep(new StepSyntax(Syntax.Identifier, System.Array.Empty<StatementSyntax>()));
        StepPlan stepPlan = canvas.Kind == CanvasKind.Causal
            ? new CausalStepPlan(
                step.Proposers.Select(p => p.Plan).ToEquatableArray(),
                new VerifyPlan(step.VerifyModel, step.ExplicitMode ?? step.InferredMode, step.MaxWidth, step.Width),
                step.Accept ?? new GreedyAccept(),
                step.Updates.ToEquatableArray(),
                PrimitiveResolver.Resolve(this, step))
            : new MaskedStepPlan(step.Predict, step.Commit ?? new OneCommitPlan(), step.Block, step.Updates.ToEquatableArray(), PrimitiveResolver.ResolveMasked(this, step));

        return new DecodePlan(
            Name,
            Paper,
            Guarantee,
            canvas,
            Models.ToEquatableArray(),
            Params.ToEquatableArray(),
            States.ToEquatableArray(),
            stepPlan,
            Stops.ToEquatableArray(),
            AllEngines(),
            ConstraintPlan);
    }
}
