using Pardec.Dsl.Collections;
using Pardec.Dsl.Trees;

namespace Pardec.Dsl.Plan;

public abstract record StepPlan;

/// <summary>
/// One step on a causal canvas: propose candidates, verify them in one target forward, accept a prefix, update state.
/// <see cref="Instances"/> are the step's primitives resolved for construction (states, then proposers in order, then
/// the acceptance rule): what both engines build.
/// </summary>
public sealed record CausalStepPlan(
    EquatableArray<ProposerPlan> Proposers,
    VerifyPlan Verify,
    AcceptPlan Accept,
    EquatableArray<UpdatePlan> Updates,
    EquatableArray<PrimitiveInstance> Instances = default) : StepPlan;

/// <summary>
/// One step on a masked canvas: predict every masked position of the block, commit some of them. <see cref="Instances"/>
/// are the states and the commit rule resolved for construction.
/// </summary>
public sealed record MaskedStepPlan(
    string Predict,
    CommitPlan Commit,
    BlockPlan? Block,
    EquatableArray<UpdatePlan> Updates,
    EquatableArray<PrimitiveInstance> Instances = default) : StepPlan;

public enum ProposalShape
{
    Chain,
    Tree,
}

/// <summary>A source of candidate tokens. Several proposers in one step are merged into one token tree.</summary>
public abstract record ProposerPlan
{
    public abstract ProposalShape Shape { get; }

    /// <summary>Whether the proposer keeps its draft probabilities q(x), which rejection sampling needs.</summary>
    public abstract bool HasProbabilities { get; }
}

/// <summary>
/// A draft-model chain of <see cref="Length"/> tokens (Leviathan et al., "Fast Inference from Transformers via
/// Speculative Decoding"; Chen et al., "Accelerating Large Language Model Decoding with Speculative Sampling").
/// <see cref="StopBelow"/> ends the draft early when the draft's confidence drops (adaptive length).
/// </summary>
/// With an <see cref="Engine"/> the draft model's own tokens are speculated by another strategy of the file and verified
/// by the draft model (Spector and Re, "Accelerating LLM Inference with Staged Speculative Decoding").
public sealed record DraftProposer(string Model, Expr Length, bool Sample, Expr? StopBelow, EngineRef? Engine = null) : ProposerPlan
{
    public override ProposalShape Shape => ProposalShape.Chain;

    public override bool HasProbabilities => Sample;

    public override string ToString() =>
        $"draft({DecodePlan.Args((string.Empty, Model), ("length", Length), ("sample", Sample), ("stop_below", StopBelow), ("engine", Engine))})";
}

/// <summary>
/// A strategy run as the engine of a draft: its name, and which model of the outer strategy plays each of its roles
/// (its verify target is the draft's model). Printed as written: <c>Inner</c> or <c>Inner(draft: tiny)</c>.
/// </summary>
public sealed record EngineRef(string Strategy, EquatableArray<RoleBinding> Roles)
{
    public override string ToString() => Strategy + (Roles.IsEmpty ? string.Empty : "(" + string.Join(", ", Roles) + ")");
}

/// <summary>The engine's role <see cref="Role"/> is the outer strategy's model <see cref="Model"/>.</summary>
public sealed record RoleBinding(string Role, string Model)
{
    public override string ToString() => Role + ": " + Model;
}

/// <summary>
/// A draft-model token tree: dynamic (<see cref="Depth"/> x <see cref="TopK"/> best nodes) or a static
/// <see cref="Tree"/> shape (Chen et al., "Sequoia: Scalable, Robust, and Hardware-aware Speculative Decoding").
/// </summary>
public sealed record DraftTreeProposerPlan(string Model, Expr? Depth, Expr? TopK, TokenTreeShape? Tree, Expr? Budget = null) : ProposerPlan
{
    public override ProposalShape Shape => ProposalShape.Tree;

    public override bool HasProbabilities => false;

    public override string ToString() =>
        $"draft_tree({DecodePlan.Args((string.Empty, Model), ("depth", Depth), ("topk", TopK), ("shape", Tree), ("budget", Budget))})";
}

/// <summary>
/// Medusa heads: one token per head as a chain (blockwise parallel decoding, Stern et al.), or a static
/// tree of top-k choices per head (Cai et al., "Medusa").
/// </summary>
public sealed record HeadsProposer(string Model, TokenTreeShape? Tree) : ProposerPlan
{
    public override ProposalShape Shape => Tree is null ? ProposalShape.Chain : ProposalShape.Tree;

    public override bool HasProbabilities => false;

    public override string ToString() =>
        $"heads({DecodePlan.Args((string.Empty, Model), ("tree", Tree))})";
}

/// <summary>
/// Jacobi fixed-point iteration over a window of guesses (Santilli et al., "Accelerating Transformer Inference
/// for Translation via Parallel Decoding"). Next to a pool (<c>update pool from jacobi</c>) it is the lookahead
/// branch of lookahead decoding (Fu et al.): its trajectory feeds the pool n-grams of the pool's size.
/// <see cref="Blocks"/> &gt; 1 gives the hybrid Gauss-Seidel-Jacobi schedule (blocks in sequence, Jacobi inside a block).
/// </summary>
public sealed record JacobiProposerPlan(Expr Window, Expr? Blocks) : ProposerPlan
{
    public override ProposalShape Shape => ProposalShape.Chain;

    public override bool HasProbabilities => false;

    public override string ToString() =>
        $"jacobi({DecodePlan.Args(("window", Window), ("blocks", Blocks))})";
}

/// <summary>Up to <see cref="Guesses"/> n-grams from a pool whose first token matches the last accepted token.</summary>
public sealed record PoolMatchProposer(string State, Expr Guesses) : ProposerPlan
{
    public override ProposalShape Shape => ProposalShape.Tree;

    public override bool HasProbabilities => false;

    public override string ToString() => $"{State}.match(guesses: {Guesses})";
}

/// <summary>Prompt lookup: copy the <see cref="Length"/> tokens that followed the longest matching n-gram of the context.</summary>
public sealed record LookupProposer(Expr MaxNgram, Expr Length, Expr MinNgram) : ProposerPlan
{
    public override ProposalShape Shape => ProposalShape.Chain;

    public override bool HasProbabilities => false;

    public override string ToString() =>
        $"lookup({DecodePlan.Args(("max_ngram", MaxNgram), ("length", Length), ("min_ngram", MinNgram))})";
}

/// <summary>A chain drafted by the target itself with layers skipped (a <c>self(...)</c> model).</summary>
public sealed record SelfDraftProposer(string Model, Expr Length, bool Sample, Expr? StopBelow) : ProposerPlan
{
    public override ProposalShape Shape => ProposalShape.Chain;

    public override bool HasProbabilities => Sample;

    public override string ToString() =>
        $"self_draft({DecodePlan.Args((string.Empty, Model), ("length", Length), ("sample", Sample), ("stop_below", StopBelow))})";
}

/// <summary>A proposer with no typed record of its own (one added through its descriptor alone), printed as written.</summary>
public sealed record PrimitiveProposer(string Name, string? Receiver, EquatableArray<NamedExpr> Arguments, ProposalShape ProposedShape, bool Probabilities) : ProposerPlan
{
    public override ProposalShape Shape => ProposedShape;

    public override bool HasProbabilities => Probabilities;

    public override string ToString() => (Receiver is null ? string.Empty : Receiver + ".") + Name + (Arguments.IsEmpty ? string.Empty : "(" + string.Join(", ", Arguments) + ")");
}

public enum VerifyMode
{
    Chain,
    Tree,
}

/// <summary>
/// One target forward over the candidates. <see cref="Width"/> is the worst-case number of candidate
/// tokens (root excluded); the runtime sizes its buffers for <see cref="MaxWidth"/>.
/// </summary>
public sealed record VerifyPlan(string Model, VerifyMode Mode, int MaxWidth, int Width)
{
    public override string ToString() =>
        $"{Model} {Mode.ToString().ToLowerInvariant()}(max_width: {MaxWidth})  # worst-case width {Width}";
}

public abstract record AcceptPlan
{
    /// <summary>Whether the output equals plain decoding of the target (greedy, or in distribution).</summary>
    public abstract bool IsLossless { get; }
}

/// <summary>Keep the longest prefix equal to the target's argmax, plus the target's next token.</summary>
public sealed record GreedyAccept : AcceptPlan
{
    public override bool IsLossless => true;

    public override string ToString() => "greedy";
}

/// <summary>Speculative sampling: accept x with min(1, p(x)/q(x)), else resample from norm(max(0, p - q)).</summary>
public sealed record RejectionAccept(Expr? Temperature) : AcceptPlan
{
    public override bool IsLossless => true;

    public override string ToString() => Temperature is null ? "rejection" : $"rejection(temperature: {Temperature})";
}

/// <summary>Medusa's typical acceptance: accept x if p(x) &gt; min(eps, delta * exp(-H(p))). Lossy.</summary>
public sealed record TypicalAccept(Expr Epsilon, Expr Delta, Expr? Temperature) : AcceptPlan
{
    public override bool IsLossless => false;

    public override string ToString() =>
        $"typical({DecodePlan.Args(("eps", Epsilon), ("delta", Delta), ("temperature", Temperature))})";
}

/// <summary>An acceptance rule with no typed record of its own (one added through its descriptor alone).</summary>
public sealed record PrimitiveAccept(string Name, bool Lossless, EquatableArray<NamedExpr> Arguments) : AcceptPlan
{
    public override bool IsLossless => Lossless;

    public override string ToString() => Name + (Arguments.IsEmpty ? string.Empty : "(" + string.Join(", ", Arguments) + ")");
}

/// <summary>Which predicted positions of a masked block become fixed this step.</summary>
public abstract record CommitPlan
{
    public abstract bool IsLossless { get; }
}

/// <summary>One token per step, the most confident — the sequential reference the others are compared to.</summary>
public sealed record OneCommitPlan : CommitPlan
{
    public override bool IsLossless => true;

    public override string ToString() => "one";
}

/// <summary>The k most confident positions (LLaDA low-confidence remasking).</summary>
public sealed record TopKCommitPlan(Expr K) : CommitPlan
{
    public override bool IsLossless => false;

    public override string ToString() => $"top {K}";
}

/// <summary>Every position whose confidence reaches the threshold (Fast-dLLM), at least <see cref="AtLeast"/>.</summary>
public sealed record ConfidenceCommitPlan(Expr Threshold, Expr? AtLeast) : CommitPlan
{
    public override bool IsLossless => false;

    public override string ToString() => $"confidence >= {Threshold}" + (AtLeast is null ? string.Empty : $", at least {AtLeast}");
}

/// <summary>Fast-dLLM's factor rule: commit the largest n with (n + 1)(1 - c_n) &lt; f, c sorted descending.</summary>
public sealed record FactorCommitPlan(Expr Factor, Expr? AtLeast) : CommitPlan
{
    public override bool IsLossless => false;

    public override string ToString() => $"factor({Factor})" + (AtLeast is null ? string.Empty : $", at least {AtLeast}");
}

/// <summary>Positions whose top-1 minus top-2 probability reaches the margin (early commit, "Diffusion Language Models Know the Answer Before Decoding").</summary>
public sealed record MarginCommitPlan(Expr Margin, Expr? AtLeast) : CommitPlan
{
    public override bool IsLossless => false;

    public override string ToString() => $"margin >= {Margin}" + (AtLeast is null ? string.Empty : $", at least {AtLeast}");
}

/// <summary>Positions whose accumulated trace credit reaches the threshold (CreditDecoding).</summary>
public sealed record CreditCommitPlan(string State, Expr Threshold, Expr? AtLeast) : CommitPlan
{
    public override bool IsLossless => false;

    public override string ToString() => $"credit({State}) >= {Threshold}" + (AtLeast is null ? string.Empty : $", at least {AtLeast}");
}

/// <summary>
/// Local determinism propagation ("Accelerating Diffusion LLM Inference via Local Determinism Propagation"):
/// positions within <see cref="Radius"/> of an anchor whose confidence reaches <see cref="Anchor"/> are committed together.
/// </summary>
public sealed record LocalCommitPlan(Expr Anchor, Expr Radius, Expr? AtLeast) : CommitPlan
{
    public override bool IsLossless => false;

    public override string ToString() =>
        $"local(anchor: {Anchor}, radius: {Radius})" + (AtLeast is null ? string.Empty : $", at least {AtLeast}");
}

/// <summary>
/// Draft all masked positions, then keep the longest prefix that one-token-per-step decoding would also
/// produce ("Free Draft-and-Verification: Toward Lossless Parallel Decoding for Diffusion Large Language Models").
/// </summary>
public sealed record DraftVerifyCommitPlan : CommitPlan
{
    public override bool IsLossless => true;

    public override string ToString() => "draft_verify";
}

/// <summary>
/// Self speculative decoding for diffusion LMs ("Self Speculative Decoding for Diffusion Large Language Models"): the
/// model's own predictions are drafted and verified through a hierarchical tree of canvases in one batched forward,
/// accepting exactly what one-token-per-step decoding commits. Lossless.
/// </summary>
public sealed record VerifyTreeCommitPlan(Expr? Depth, Expr? Width) : CommitPlan
{
    public override bool IsLossless => true;

    public override string ToString() => "verify_tree" + (Depth is null && Width is null ? string.Empty : $"({DecodePlan.Args(("depth", Depth), ("width", Width))})");
}

/// <summary>
/// D2F's pipelined block decoding ("Diffusion LLMs Can Do Faster-Than-AR Inference via Discrete Diffusion Forcing"):
/// the next blocks start (confident positions only) once the block before them is <see cref="Add"/> complete, before the
/// current block is finished. Lossy.
/// </summary>
public sealed record PipelinedCommitPlan(Expr Threshold, Expr? Add, Expr? Ahead, Expr? AtLeast) : CommitPlan
{
    public override bool IsLossless => false;

    public override string ToString() =>
        $"pipelined({DecodePlan.Args(("threshold", Threshold), ("add", Add), ("ahead", Ahead))})" + (AtLeast is null ? string.Empty : $", at least {AtLeast}");
}

public abstract record BlockPlan;

/// <summary>
/// Semantic-aware adaptive block size ("AdaBlock-dLLM"): the block ends at the first predicted delimiter whose
/// confidence reaches <see cref="Delimiter"/>, clamped to [Min, Max].
/// </summary>
public sealed record AdaptiveBlockPlan(Expr Min, Expr Max, Expr? Delimiter) : BlockPlan
{
    public override string ToString() => $"adaptive({DecodePlan.Args(("min", Min), ("max", Max), ("delimiter", Delimiter))})";
}
