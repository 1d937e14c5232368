using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Binding;
using Pardec.Dsl.Plan;

namespace Pardec.Dsl.Primitives;

/// <summary>Which slot of a step a primitive fills.</summary>
public enum PrimitiveRole
{
    /// <summary>Adds candidates to the step's tree (an <c>IProposer</c> at run time).</summary>
    Proposer,

    /// <summary>Decides which candidates survive verification (an <c>IAcceptanceRule</c> at run time).</summary>
    Acceptance,

    /// <summary>Strategy state that lives across steps and is updated after them.</summary>
    State,

    /// <summary>Chooses which predicted positions of a masked block become fixed this step.</summary>
    Commit,

    /// <summary>What the output must match (<c>constrain regex("…")</c>): applied to each request's options before the decode.</summary>
    Constraint,
}

/// <summary>
/// One primitive, described once: its name in the language, the canvases it runs on, its parameters, the rules the
/// binder derives from it (proposal shape, worst-case width, draft probabilities, losslessness), and how the runtime
/// builds it — the runtime type and the <em>names</em> of its constructor parameters with where each value comes from.
/// The binder binds from this, lowering resolves it into <see cref="PrimitiveInstance"/>s, the emitter prints
/// <c>new T(name: value, …)</c> from those and the interpreter instantiates them through its registry: nothing else
/// knows the primitive, so the two engines cannot drift.
/// </summary>
/// <param name="Name">The name in the language (<c>lookup</c>; for a state method, the method: <c>match</c>).</param>
/// <param name="Forms">How the runtime builds it; the first form whose <see cref="PrimitiveForm.When"/> holds is used.</param>
/// <param name="ProbabilityFlag">The flag that makes the primitive keep q(x) for rejection sampling, if it can.</param>
/// <param name="Preserves">Which guarantees a strategy keeps when it uses the primitive (the soundness table in
/// docs/language.md): <see cref="Preserves.Lossless"/> — greedy output still equals plain greedy decoding of the target
/// (masked: one-token-per-step decoding); <see cref="Preserves.Distribution"/> — sampled output still has the target's
/// sampling distribution. The binder refuses a primitive under a guarantee it does not preserve; none is assumed.</param>
/// <param name="Receiver">For a method on a state (<c>pool.match</c>): the state kind it is called on.</param>
/// <param name="Options">Parameters that set a generation option instead of a constructor argument (<c>temperature</c>).</param>
/// <param name="Updates">For a state: the step outputs it may be updated from (<c>update pool from jacobi</c>).</param>
/// <param name="Proposal">The typed plan record of a built-in proposer (what the plan prints and rules read); null gives a <see cref="PrimitiveProposer"/>.</param>
/// <param name="Accept">The typed plan record of a built-in acceptance rule; null gives a <see cref="PrimitiveAccept"/>.</param>
/// <param name="Rules">Relations between parameters the runtime type requires (the binder reports them, PDEC1030/PDEC1031).</param>
/// <param name="Batched">The parameters the batched engine honours, if the primitive runs on a batched canvas at all (else PDEC1029).</param>
/// <param name="Commit">The typed plan record of a masked commit rule.</param>
/// <param name="Written">How the primitive is written when that is not a call (<c>confidence &gt;= t</c>); messages list it.</param>
/// <param name="MasksDrafts">For proposers: draws its candidates under the constraint's mask, q(x) included (grammar-aware
/// drafting). Every proposer's forbidden nodes are pruned before the target forward; one that does not mask only wastes
/// slots, unless it keeps q(x) for rejection sampling, where an unmasked q is refused under a constraint.</param>
/// <param name="NeedsConstraint">For proposers: proposes nothing without a constraint (jump-forward); the strategy must declare one.</param>
/// <param name="ContextFree">For constraints: the runtime follows recursive (context-free) grammars of this kind on causal
/// canvases; when false a recursive one is refused at build time.</param>
/// <param name="Caches">For masked commit rules: the cache modes the runtime type runs with (null: every mode); the binder
/// refuses the others (PDEC1033 for the lossless verification rules, PDEC1060 otherwise, with <paramref name="CachesWhy"/>).</param>
/// <param name="CommitsBeyondBlock">For masked commit rules: commits positions after the current block (D2F's pipeline),
/// which a constraint's block program (DINGO) does not cover, so a declared constraint is refused (PDEC1052).</param>
public sealed record PrimitiveDescriptor(
    string Name,
    PrimitiveRole Role,
    string Description,
    IReadOnlyList<CanvasKind> Canvases,
    IReadOnlyList<ParameterSignature> Parameters,
    IReadOnlyList<PrimitiveForm> Forms,
    string? ProbabilityFlag = null,
    Preserves Preserves = Preserves.None,
    StateKind? Receiver = null,
    IReadOnlyList<OptionOverride>? Options = null,
    IReadOnlyList<StateUpdate>? Updates = null,
    System.Func<PrimitiveArguments, ProposerPlan>? Proposal = null,
    System.Func<PrimitiveArguments, AcceptPlan>? Accept = null,
    IReadOnlyList<ParameterRule>? Rules = null,
    IReadOnlyList<string>? Batched = null,
    System.Func<PrimitiveArguments, CommitPlan>? Commit = null,
    string? Written = null,
    bool MasksDrafts = false,
    bool NeedsConstraint = false,
    bool ContextFree = false,
    IReadOnlyList<CacheMode>? Caches = null,
    string? CachesWhy = null,
    bool CommitsBeyondBlock = false)
{
    public ParameterSignature? Find(string name) => Parameters.FirstOrDefault(p => p.Name == name);

    public PrimitiveSignature Signature => new(Name, Parameters.ToArray());

    /// <summary>How the primitive is written with its required parameters, e.g. <c>typical(eps: e, delta: d)</c>.</summary>
    public string Usage
    {
        get
        {
            if (Written is not null)
            {
                return Written;
            }

            var required = Parameters.Where(p => p.Required).Select(p => p.Positional || p.Kind == ArgKind.Flag ? p.Name : p.Name + ": " + p.Name[0]).ToList();
            return Name + (required.Count == 0 ? string.Empty : "(" + string.Join(", ", required) + ")");
        }
    }
}

/// <summary>The guarantees a primitive (or cache mode, block rule, stop condition) preserves.</summary>
[System.Flags]
public enum Preserves
{
    None = 0,

    /// <summary>Greedy output equals plain greedy decoding of the target (masked: one-token-per-step decoding).</summary>
    Lossless = 1,

    /// <summary>Sampled output has the target's sampling distribution.</summary>
    Distribution = 2,

    Both = Lossless | Distribution,
}

/// <summary>
/// One way the runtime builds a primitive: its type, the width and shape of what it proposes, and each constructor
/// argument by the constructor's own parameter name. <see cref="When"/> names a parameter whose presence selects this
/// form (a Jacobi window with <c>blocks</c> is the Gauss-Seidel proposer); null is the default form. A commit rule
/// selects from the block (<c>Select(block, selection)</c>) or, with <see cref="SelectsOnSession"/>, from the session
/// (<c>Select(session)</c>); <see cref="Disposable"/> instances are disposed with the decoder.
/// </summary>
public sealed record PrimitiveForm(
    string RuntimeType,
    IReadOnlyList<ConstructorArgument> Constructor,
    ProposalShape Shape = ProposalShape.Chain,
    WidthRule? Width = null,
    string? When = null,
    IReadOnlyList<string>? Requires = null,
    bool CountsDraftForwards = false,
    bool NeedsHidden = false,
    bool SelectsOnSession = false,
    bool Disposable = false);

/// <summary>A relation between two parameters that the runtime type enforces when it is built.</summary>
public abstract record ParameterRule
{
    /// <summary><paramref name="low"/> must not exceed <paramref name="high"/> (a missing one takes its default).</summary>
    public static ParameterRule AtMost(string low, string high) => new AtMostRule(low, high);

    /// <summary><paramref name="value"/> must be a multiple of <paramref name="of"/>, for the reason given.</summary>
    public static ParameterRule MultipleOf(string value, string of, string why) => new MultipleOfRule(value, of, why);

    /// <summary><paramref name="a"/> and <paramref name="b"/> cannot be given together, for the reason given.</summary>
    public static ParameterRule Excludes(string a, string b, string why) => new ExcludesRule(a, b, why);
}

public sealed record ExcludesRule(string A, string B, string Why) : ParameterRule;

public sealed record AtMostRule(string Low, string High) : ParameterRule;

public sealed record MultipleOfRule(string Value, string Of, string Why) : ParameterRule;

/// <summary>A constructor parameter, by name, and where its value comes from.</summary>
public sealed record ConstructorArgument(string Name, ArgumentSource Source);

/// <summary>A parameter that overrides a generation option (e.g. <c>temperature</c> → <c>GenerationOptions.Temperature</c>).</summary>
public sealed record OptionOverride(string Parameter, string Option);

/// <summary>
/// A step output a state may learn from, and how: a constructor flag (<see cref="Flag"/>, set when the strategy
/// declares the update) or a call after each step on the instance of <see cref="FromPrimitive"/>.
/// </summary>
public sealed record StateUpdate(string Source, string? Flag = null, string? Call = null, string? FromPrimitive = null);

/// <summary>Where a constructor argument's value comes from.</summary>
public abstract record ArgumentSource
{
    /// <summary>The bound value of one of the primitive's parameters (a number, a flag, a model role), else its default.</summary>
    public static ArgumentSource Param(string name) => new ParamSource(name, null);

    /// <summary>The parameter's value, else the value of <paramref name="otherwise"/> (an adaptive length starts at its max).</summary>
    public static ArgumentSource ParamOr(string name, string otherwise) => new ParamSource(name, otherwise);

    /// <summary>An argument of the state the primitive is called on (<c>pool.match</c> reads the pool's <c>size</c>).</summary>
    public static ArgumentSource ReceiverArg(string name, Literal? fallback = null) => new ReceiverArgSource(name, fallback);

    /// <summary>The causal model a medusa(...) or self(...) model named by the parameter sits on.</summary>
    public static ArgumentSource TargetOf(string parameter) => new TargetOfSource(parameter);

    /// <summary>The layers a self(...) model skips, as a <c>LayerSkip</c>; null for any other model.</summary>
    public static ArgumentSource SkipOf(string parameter) => new SkipOfSource(parameter);

    /// <summary>The number of heads of the medusa(...) model named by the parameter.</summary>
    public static ArgumentSource HeadsOf(string parameter) => new HeadsOfSource(parameter);

    /// <summary>One array of a static token tree given by the parameter, flattened at build time.</summary>
    public static ArgumentSource Tree(string parameter, TreeArray array) => new TreeSource(parameter, array);

    /// <summary>The static tree as a <c>DraftTreeShape(parents, choices)</c>; null when the parameter is absent.</summary>
    public static ArgumentSource DraftShape(string parameter) => new DraftShapeSource(parameter);

    /// <summary>Whether the receiver state is updated from <paramref name="source"/> (<c>update pool from context</c>).</summary>
    public static ArgumentSource Updated(string source) => new UpdatedSource(source);

    /// <summary>A value the engine owns: the sequence budget, the tree's capacity, the session's sampler.</summary>
    public static ArgumentSource Engine(EngineValue value) => new EngineSource(value);

    /// <summary>The built instance of the state named by the parameter (a credit rule reads its credits).</summary>
    public static ArgumentSource StateInstance(string parameter) => new StateInstanceSource(parameter);

    /// <summary>A constant of the primitive itself.</summary>
    public static ArgumentSource Constant(Literal value) => new ConstantSource(value);

    /// <summary>A part of the strategy named by the parameter, run as an engine: its proposers, its acceptance rule or its tree capacity.</summary>
    public static ArgumentSource Stage(string parameter, StagePart part) => new StageSource(parameter, part);

    /// <summary>The path, as written, of the file a <see cref="ArgKind.File"/> parameter names (for messages and descriptions).</summary>
    public static ArgumentSource FilePath(string parameter) => new FilePathSource(parameter);
}

public sealed record FilePathSource(string Parameter) : ArgumentSource;

public sealed record StageSource(string Parameter, StagePart Part) : ArgumentSource;

/// <summary>What a staged primitive takes from the strategy it runs as its engine.</summary>
public enum StagePart
{
    /// <summary>The engine step's proposers, built as an <c>IProposer[]</c> (their models are the outer strategy's).</summary>
    Proposers,

    /// <summary>The engine step's acceptance rule.</summary>
    Accept,

    /// <summary>Candidate tokens one engine verification holds, root included.</summary>
    Capacity,
}

public sealed record StateInstanceSource(string Parameter) : ArgumentSource;

public sealed record ConstantSource(Literal Value) : ArgumentSource;

public sealed record ParamSource(string Name, string? Otherwise) : ArgumentSource;

public sealed record ReceiverArgSource(string Name, Literal? Fallback) : ArgumentSource;

public sealed record TargetOfSource(string Parameter) : ArgumentSource;

public sealed record SkipOfSource(string Parameter) : ArgumentSource;

public sealed record HeadsOfSource(string Parameter) : ArgumentSource;

public sealed record TreeSource(string Parameter, TreeArray Array) : ArgumentSource;

public sealed record DraftShapeSource(string Parameter) : ArgumentSource;

public sealed record UpdatedSource(string Source) : ArgumentSource;

public sealed record EngineSource(EngineValue Value) : ArgumentSource;

public enum TreeArray
{
    Parents,
    Depths,
    Choices,
}

/// <summary>Values only the engine knows when it builds a decoder.</summary>
public enum EngineValue
{
    /// <summary>The longest sequence the decoder is built for (prompt + output).</summary>
    MaxLength,

    /// <summary>Candidate tokens one step's tree holds, root included.</summary>
    Capacity,

    /// <summary>The session's node sampler (greedy or seeded sampling, shared by draft and target).</summary>
    Sampler,

    /// <summary>The masked session (blocks, predictions, commits).</summary>
    MaskedSession,

    /// <summary>The bytes of every token of the model's tokenizer (what a constraint's automaton reads): a constructor
    /// parameter of a decoder whose strategy declares a constraint, <c>ModelSet.Vocabulary</c> for the interpreter.</summary>
    Vocabulary,
    /// <summary>The model the step verifies with (whose forward cost a cost-aware length prices).</summary>
    Target,
}

/// <summary>
/// How the binder computes a proposer's worst-case number of candidate tokens (it sizes the verify buffers):
/// a parameter's value, a product of two, the width of a static tree, a medusa model's heads, or
/// <c>per × (receiver arg − 1)</c> for n-grams from a pool.
/// </summary>
public abstract record WidthRule
{
    public static WidthRule Of(string parameter) => new ParamWidth(parameter);

    public static WidthRule Product(string a, string b) => new ProductWidth(a, b);

    public static WidthRule TreeOf(string parameter) => new TreeWidth(parameter);

    public static WidthRule Heads(string parameter) => new HeadsWidth(parameter);

    public static WidthRule NgramTails(string perParameter, string receiverSize) => new NgramTailsWidth(perParameter, receiverSize);
}

public sealed record ParamWidth(string Parameter) : WidthRule;

public sealed record ProductWidth(string A, string B) : WidthRule;

public sealed record TreeWidth(string Parameter) : WidthRule;

public sealed record HeadsWidth(string Parameter) : WidthRule;

public sealed record NgramTailsWidth(string PerParameter, string ReceiverSize) : WidthRule;
