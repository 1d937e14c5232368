using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Binding;
using Pardec.Dsl.Constraints;
using Pardec.Dsl.Plan;
using static Pardec.Dsl.Primitives.ArgumentSource;

namespace Pardec.Dsl.Primitives;

/// <summary>
/// The primitives a strategy can name, by role. <see cref="Default"/> holds the runtime's; <see cref="With"/> adds one
/// (a test's toy primitive, an app's own proposer) without touching the binder, the emitter or the interpreter.
/// </summary>
public sealed class PrimitiveLibrary
{
    private const string Proposers = "Pardec.Runtime.Primitives.Proposers.";
    private const string Acceptance = "Pardec.Runtime.Primitives.Acceptance.";
    private const string Commits = "Pardec.Runtime.Masked.Commit.";
    private const string Constraints = "Pardec.Runtime.Constraints.";

    /// <summary>Drafts per verification of the lossless masked draft-and-verify rule: one batched forward of this many canvases.</summary>
    public const int DraftVerifyDrafts = 8;
    private static readonly CanvasKind[] Causal = { CanvasKind.Causal };
    // Declared regular constraints run on masked canvases too (DINGO's block program, MaskedSession).
    private static readonly CanvasKind[] CausalAndMasked = { CanvasKind.Causal, CanvasKind.Masked };
    private static readonly CanvasKind[] Masked = { CanvasKind.Masked };
    private static readonly ModelKind[] CausalModel = { ModelKind.Causal };

    private readonly PrimitiveDescriptor[] _descriptors;

    private PrimitiveLibrary(PrimitiveDescriptor[] descriptors) => _descriptors = descriptors;

    public IReadOnlyList<PrimitiveDescriptor> All => _descriptors;

    public IEnumerable<PrimitiveDescriptor> OfRole(PrimitiveRole role) => _descriptors.Where(d => d.Role == role);

    /// <summary>The primitive of this role and name (for a state method, the state kind it is called on).</summary>
    public PrimitiveDescriptor? Find(PrimitiveRole role, string name, StateKind? receiver = null) =>
        _descriptors.FirstOrDefault(d => d.Role == role && d.Name == name && d.Receiver == receiver);

    /// <summary>
    /// The primitives of a role as messages list them: proposers by name (state methods as <c>&lt;pool&gt;.match</c>),
    /// other roles with their required parameters (<c>typical(eps: e, delta: d)</c>).
    /// </summary>
    public string Describe(PrimitiveRole role) => role == PrimitiveRole.Proposer
        ? string.Join(", ", OfRole(role).OrderBy(d => d.Receiver is null ? 0 : 1).ThenBy(d => d.Name, System.StringComparer.Ordinal)
            .Select(d => d.Receiver is { } kind ? "<" + ReceiverLabel(kind) + ">." + d.Name : d.Name))
        : string.Join(", ", OfRole(role).Select(d => d.Usage));

    /// <summary>How a state kind is called in messages: the last word of its name (an <c>ngram_pool</c> is a pool).</summary>
    public static string ReceiverLabel(StateKind kind)
    {
        string name = StatePlan.KindName(kind);
        return name.Substring(name.LastIndexOf('_') + 1);
    }

    public PrimitiveLibrary With(PrimitiveDescriptor descriptor) =>
        new(_descriptors.Where(d => !(d.Role == descriptor.Role && d.Name == descriptor.Name && d.Receiver == descriptor.Receiver))
            .Concat(new[] { descriptor }).ToArray());

    private static ParameterSignature Int(string name, string description, double min = 1, double max = double.PositiveInfinity, bool required = false, long? fallback = null, bool allowsState = false) =>
        new(name, ArgKind.Int, Required: required, Description: description, Min: min, Max: max, AllowsState: allowsState, Default: fallback is { } f ? Literal.Int(f) : null);

    private static ParameterSignature Float(string name, string description, double min, double max = double.PositiveInfinity, bool required = false, double? fallback = null) =>
        new(name, ArgKind.Float, Required: required, Description: description, Min: min, Max: max, Default: fallback is { } f ? Literal.Float(f) : null);

    private static ParameterSignature Model(string description, params ModelKind[] kinds) =>
        new("model", ArgKind.Model, Required: true, Positional: true, Description: description, ModelKinds: kinds);

    private static ParameterSignature Flag(string name, string description) => new(name, ArgKind.Flag, Description: description);

    private static ConstructorArgument Ctor(string name, ArgumentSource source) => new(name, source);

    public static PrimitiveLibrary Default { get; } = new(Builtins().Concat(ConstraintPrimitives()).ToArray());

    private static PrimitiveDescriptor[] Builtins() => new[]
    {
        // ---- proposers ----
        new PrimitiveDescriptor(
            "draft", PrimitiveRole.Proposer, "a chain drafted by a smaller causal model (Leviathan et al.; Chen et al.)", Causal,
            new[]
            {
                Model("a causal draft model", ModelKind.Causal),
                Int("length", "tokens drafted per step", required: true, allowsState: true),
                Flag("sample", "sample the draft and keep q(x)"),
                Float("stop_below", "end the draft when its confidence drops below this", 0, 1, fallback: 0),
                new ParameterSignature("engine", ArgKind.Strategy, Description: "a strategy of this file that speculates the draft model's own tokens (staged speculation)"),
            },
            new[]
            {
                // Staged speculative decoding (Spector and Re): the engine strategy proposes the draft model's tokens,
                // the draft model verifies them, and the chain it accepts is this step's draft.
                new PrimitiveForm(Proposers + "StagedDraftProposer", new[]
                {
                    Ctor("draft", Param("model")), Ctor("maxLength", Engine(EngineValue.MaxLength)), Ctor("length", Param("length")),
                    Ctor("proposers", Stage("engine", StagePart.Proposers)), Ctor("accept", Stage("engine", StagePart.Accept)),
                    Ctor("capacity", Stage("engine", StagePart.Capacity)),
                }, Width: WidthRule.Of("length"), When: "engine", CountsDraftForwards: true),
                new PrimitiveForm(Proposers + "DraftModelProposer", new[]
                {
                    Ctor("draft", Param("model")), Ctor("maxLength", Engine(EngineValue.MaxLength)), Ctor("treeCapacity", Engine(EngineValue.Capacity)),
                    Ctor("length", Param("length")), Ctor("sample", Param("sample")), Ctor("stopBelow", Param("stop_below")),
                    Ctor("sampler", Engine(EngineValue.Sampler)),
                }, Width: WidthRule.Of("length"), CountsDraftForwards: true),
            },
            ProbabilityFlag: "sample",
            Rules: new[]
            {
                ParameterRule.Excludes("engine", "sample", "an engine drafts greedily and keeps no q(x) (use one or the other)"),
                ParameterRule.Excludes("engine", "stop_below", "the engine's own acceptance decides how far the draft model's chain goes"),
            },
            Batched: new[] { "model", "length" },
            Proposal: a => new DraftProposer(a.Name("model"), a.Expr("length")!, a.Flag("sample"), a.Expr("stop_below"), a.Engine("engine")),
            MasksDrafts: true,
            Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "self_draft", PrimitiveRole.Proposer, "a chain drafted by the target itself with layers skipped (Zhang et al., self-speculative decoding)", Causal,
            new[]
            {
                Model("a self(...) layer-skip model", ModelKind.Self),
                Int("length", "tokens drafted per step", required: true, allowsState: true),
                Flag("sample", "sample the draft and keep q(x)"),
                Float("stop_below", "end the draft when its confidence drops below this", 0, 1, fallback: 0),
            },
            new[]
            {
                new PrimitiveForm(Proposers + "DraftModelProposer", new[]
                {
                    Ctor("draft", TargetOf("model")), Ctor("maxLength", Engine(EngineValue.MaxLength)), Ctor("treeCapacity", Engine(EngineValue.Capacity)),
                    Ctor("length", Param("length")), Ctor("sample", Param("sample")), Ctor("stopBelow", Param("stop_below")),
                    Ctor("sampler", Engine(EngineValue.Sampler)), Ctor("skip", SkipOf("model")),
                }, Width: WidthRule.Of("length"), CountsDraftForwards: true),
            },
            ProbabilityFlag: "sample",
            Batched: new[] { "model", "length" },
            Proposal: a => new SelfDraftProposer(a.Name("model"), a.Expr("length")!, a.Flag("sample"), a.Expr("stop_below")),
            MasksDrafts: true,
            Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "draft_tree", PrimitiveRole.Proposer, "a token tree drafted by a causal model: a static shape (Sequoia) or depth x top-k (EAGLE-2)", Causal,
            new[]
            {
                Model("a causal draft model", ModelKind.Causal),
                Int("depth", "tree depth"),
                Int("topk", "nodes kept per depth"),
                new ParameterSignature("shape", ArgKind.Tree, Description: "a static choice list"),
                Int("budget", "most nodes proposed: the shape's first nodes, or the beam's best (a cost_aware state prices it)", min: 0, fallback: int.MaxValue, allowsState: true),
            },
            new[]
            {
                new PrimitiveForm(Proposers + "DraftTreeProposer", new[]
                {
                    Ctor("draft", Param("model")), Ctor("maxLength", Engine(EngineValue.MaxLength)), Ctor("shape", DraftShape("shape")), Ctor("budget", Param("budget")),
                }, ProposalShape.Tree, WidthRule.TreeOf("shape"), When: "shape", CountsDraftForwards: true),
                new PrimitiveForm(Proposers + "DraftTreeProposer", new[]
                {
                    Ctor("draft", Param("model")), Ctor("maxLength", Engine(EngineValue.MaxLength)), Ctor("depth", Param("depth")), Ctor("topK", Param("topk")), Ctor("budget", Param("budget")),
                }, ProposalShape.Tree, WidthRule.Product("depth", "topk"), Requires: new[] { "depth", "topk" }, CountsDraftForwards: true),
            },
            Proposal: a => new DraftTreeProposerPlan(a.Name("model"), a.Expr("depth"), a.Expr("topk"), a.Tree("shape"), a.Expr("budget")), Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "heads", PrimitiveRole.Proposer, "Medusa heads: one token per head as a chain (Stern et al.) or a static tree of top-k choices (Cai et al.)", Causal,
            new[]
            {
                Model("a medusa(...) model", ModelKind.Medusa),
                new ParameterSignature("tree", ArgKind.Tree, Description: "a static Medusa choice list"),
            },
            new[]
            {
                new PrimitiveForm(Proposers + "MedusaProposer", new[]
                {
                    Ctor("heads", Param("model")), Ctor("target", TargetOf("model")),
                    Ctor("parents", Tree("tree", TreeArray.Parents)), Ctor("depths", Tree("tree", TreeArray.Depths)), Ctor("choices", Tree("tree", TreeArray.Choices)),
                }, ProposalShape.Tree, WidthRule.TreeOf("tree"), When: "tree", NeedsHidden: true),
                new PrimitiveForm(Proposers + "MedusaProposer", new[]
                {
                    Ctor("heads", Param("model")), Ctor("target", TargetOf("model")), Ctor("length", HeadsOf("model")),
                }, Width: WidthRule.Heads("model"), NeedsHidden: true),
            },
            Proposal: a => new HeadsProposer(a.Name("model"), a.Tree("tree")), Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "jacobi", PrimitiveRole.Proposer, "a window of guesses refined by Jacobi fixed-point iteration (Santilli et al.); with blocks, the Gauss-Seidel-Jacobi schedule", Causal,
            new[]
            {
                Int("window", "positions guessed in parallel (W)", required: true, allowsState: true),
                Int("blocks", "Gauss-Seidel blocks over the window"),
            },
            new[]
            {
                new PrimitiveForm(Proposers + "GaussSeidelJacobiProposer", new[] { Ctor("window", Param("window")), Ctor("blocks", Param("blocks")) },
                    Width: WidthRule.Of("window"), When: "blocks"),
                new PrimitiveForm(Proposers + "JacobiProposer", new[] { Ctor("window", Param("window")) }, Width: WidthRule.Of("window")),
            },
            Rules: new[] { ParameterRule.MultipleOf("window", "blocks", "so the window cuts into equal blocks") },
            Proposal: a => new JacobiProposerPlan(a.Expr("window")!, a.Expr("blocks")), Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "lookup", PrimitiveRole.Proposer, "prompt lookup: copy what followed the longest earlier match of the context's tail (Saxena; Yang et al., LLMA)", Causal,
            new[]
            {
                Int("max_ngram", "longest n-gram matched", required: true),
                Int("length", "tokens copied after the match", required: true, allowsState: true),
                Int("min_ngram", "shortest n-gram matched", fallback: 1),
            },
            new[]
            {
                new PrimitiveForm(Proposers + "PromptLookupProposer", new[]
                {
                    Ctor("maxNgram", Param("max_ngram")), Ctor("minNgram", Param("min_ngram")), Ctor("length", Param("length")),
                }, Width: WidthRule.Of("length")),
            },
            Rules: new[] { ParameterRule.AtMost("min_ngram", "max_ngram") },
            Proposal: a => new LookupProposer(a.Expr("max_ngram")!, a.Expr("length")!, a.Expr("min_ngram") ?? Literal.Int(1)), Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "forced", PrimitiveRole.Proposer, "jump-forward: the text the request's constraint forces, tokenised and verified like any draft (Zheng et al., SGLang); nothing on an unconstrained request", Causal,
            new[]
            {
                Int("length", "most tokens proposed per step", required: true),
                Int("branching", "tokenisations of the forced text tried at each node", fallback: 1),
            },
            new[]
            {
                new PrimitiveForm(Constraints + "ForcedProposer", new[] { Ctor("length", Param("length")), Ctor("branching", Param("branching")) },
                    Width: WidthRule.Of("length")),
            },
            MasksDrafts: true,
            NeedsConstraint: true,
            Preserves: Preserves.Lossless),
        new PrimitiveDescriptor(
            "match", PrimitiveRole.Proposer, "n-grams from a pool whose first token is the last accepted one (Fu et al., lookahead decoding; ANPD)", Causal,
            new[] { Int("guesses", "n-grams verified per step (G)", min: 0, required: true, allowsState: true) },
            new[]
            {
                new PrimitiveForm(Proposers + "NgramPoolProposer", new[]
                {
                    Ctor("n", ReceiverArg("size")), Ctor("guesses", Param("guesses")), Ctor("perKey", ReceiverArg("capacity", Literal.Int(0))),
                    Ctor("fromContext", Updated("context")),
                }, ProposalShape.Tree, WidthRule.NgramTails("guesses", "size")),
            },
            Receiver: StateKind.NgramPool,
            Proposal: a => new PoolMatchProposer(a.Receiver!, a.Expr("guesses")!), Preserves: Preserves.Both),

        // ---- acceptance ----
        new PrimitiveDescriptor(
            "greedy", PrimitiveRole.Acceptance, "keep the longest path equal to the target's own picks (exact)", Causal,
            new ParameterSignature[0],
            new[] { new PrimitiveForm(Acceptance + "GreedyAcceptance", new ConstructorArgument[0]) },
            Accept: _ => new GreedyAccept(),
            Batched: new string[0], Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "rejection", PrimitiveRole.Acceptance, "speculative sampling: accept x with min(1, p(x)/q(x)), else resample from norm(max(0, p - q))", Causal,
            new[] { new ParameterSignature("temperature", ArgKind.Float, Description: "sampling temperature (rejection sampling needs one above 0)", Min: 0, ExclusiveMin: true) },
            new[] { new PrimitiveForm(Acceptance + "RejectionAcceptance", new[] { Ctor("capacity", Engine(EngineValue.Capacity)) }) },
            Options: new[] { new OptionOverride("temperature", "Temperature") },
            Accept: a => new RejectionAccept(a.Expr("temperature")), Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "typical", PrimitiveRole.Acceptance, "Medusa's typical acceptance: p(x) > min(eps, delta * exp(-H(p))); lossy", Causal,
            new[]
            {
                Float("eps", "hard threshold epsilon", 0, 1, required: true),
                Float("delta", "entropy-scaled threshold delta", 0, required: true),
                Float("temperature", "sampling temperature", 0),
            },
            new[]
            {
                new PrimitiveForm(Acceptance + "TypicalAcceptance", new[]
                {
                    Ctor("epsilon", Param("eps")), Ctor("delta", Param("delta")), Ctor("capacity", Engine(EngineValue.Capacity)),
                }),
            },
            Options: new[] { new OptionOverride("temperature", "Temperature") },
            Accept: a => new TypicalAccept(a.Expr("eps")!, a.Expr("delta")!, a.Expr("temperature")), Preserves: Preserves.None),

        // ---- state ----
        new PrimitiveDescriptor(
            "ngram_pool", PrimitiveRole.State, "n-grams keyed by their first token; proposed by <pool>.match", Causal,
            new[]
            {
                Int("size", "n-gram length N", min: 2, required: true),
                Int("capacity", "n-grams kept per first token (at least the guesses)"),
            },
            new PrimitiveForm[0], // built by its match: the pool and its proposer are one runtime object
            Updates: new[]
            {
                new StateUpdate("jacobi", Call: "AddFromJacobi", FromPrimitive: "jacobi"),
                new StateUpdate("context", Flag: "fromContext"),
            }, Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "adaptive_length", PrimitiveRole.State, "a draft length that grows on full acceptance and shrinks on rejection", Causal,
            new[]
            {
                Int("min", "shortest draft", required: true),
                Int("max", "longest draft", required: true),
                Int("initial", "first draft length"),
            },
            new[]
            {
                new PrimitiveForm("Pardec.Runtime.Primitives.State.AdaptiveLength", new[]
                {
                    Ctor("min", Param("min")), Ctor("max", Param("max")), Ctor("initial", ParamOr("initial", "max")),
                }),
            },
            Rules: new[] { ParameterRule.AtMost("min", "max") },
            Updates: new[] { new StateUpdate("accept", Call: "Update") }, Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "cost_aware", PrimitiveRole.State, "a draft length, window, guess count or tree budget chosen before every step to maximise expected tokens per second: the target's verify cost of k tokens (a per-dtype prior, then measured step times) against the acceptance observed online; 0 is a plain decoding step", Causal,
            new[]
            {
                Int("max", "longest draft / largest budget", required: true),
                Int("min", "smallest value (0: a step may propose nothing)", min: 0, fallback: 0),
            },
            new[]
            {
                new PrimitiveForm("Pardec.Runtime.Primitives.State.CostAwareLength", new[]
                {
                    Ctor("target", Engine(EngineValue.Target)), Ctor("min", Param("min")), Ctor("max", Param("max")),
                }),
            },
            Rules: new[] { ParameterRule.AtMost("min", "max") },
            Updates: new[] { new StateUpdate("accept", Call: "Update") }, Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "credits", PrimitiveRole.State, "per-position trace credits that accumulate confidence over steps (CreditDecoding)", Masked,
            new[] { Float("decay", "credit kept per step", 0, 1, required: true) },
            new[]
            {
                new PrimitiveForm("Pardec.Runtime.Masked.CreditState", new[] { Ctor("session", Engine(EngineValue.MaskedSession)), Ctor("decay", Param("decay")) },
                    Disposable: true),
            },
            Updates: new[] { new StateUpdate("predict", Call: "Update") }, Preserves: Preserves.None),

        // ---- masked commit rules ----
        new PrimitiveDescriptor(
            "one", PrimitiveRole.Commit, "one token per step, the most confident (the sequential reference)", Masked,
            new ParameterSignature[0],
            new[] { new PrimitiveForm(Commits + "OneCommit", new ConstructorArgument[0]) },
            Commit: _ => new OneCommitPlan(), Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "top", PrimitiveRole.Commit, "the k most confident positions (LLaDA low-confidence remasking)", Masked,
            new[] { new ParameterSignature("k", ArgKind.Int, Required: true, Description: "positions committed per step", Min: 1) },
            new[] { new PrimitiveForm(Commits + "TopKCommit", new[] { Ctor("k", Param("k")) }) },
            Commit: a => new TopKCommitPlan(a.Expr("k")!), Written: "top k", Preserves: Preserves.None),
        new PrimitiveDescriptor(
            "confidence", PrimitiveRole.Commit, "every position whose confidence reaches the threshold (Fast-dLLM)", Masked,
            new[] { Float("threshold", "confidence to commit", 0, 1, required: true), AtLeast() },
            new[] { new PrimitiveForm(Commits + "ConfidenceCommit", new[] { Ctor("threshold", Param("threshold")), Ctor("atLeast", Param("at_least")) }) },
            Commit: a => new ConfidenceCommitPlan(a.Expr("threshold")!, a.Expr("at_least")), Written: "confidence >= t", Preserves: Preserves.None),
        new PrimitiveDescriptor(
            "factor", PrimitiveRole.Commit, "Fast-dLLM's factor rule: the largest n with (n + 1)(1 - c_n) < f", Masked,
            new[] { new ParameterSignature("f", ArgKind.Float, Required: true, Positional: true, Description: "the factor f", Min: 0, ExclusiveMin: true), AtLeast() },
            new[] { new PrimitiveForm(Commits + "FactorCommit", new[] { Ctor("factor", Param("f")), Ctor("atLeast", Param("at_least")) }) },
            Commit: a => new FactorCommitPlan(a.Expr("f")!, a.Expr("at_least")), Written: "factor(f)", Preserves: Preserves.None),
        new PrimitiveDescriptor(
            "margin", PrimitiveRole.Commit, "positions whose top-1 minus top-2 probability reaches the margin", Masked,
            new[] { Float("threshold", "top-1 minus top-2 probability", 0, 1, required: true), AtLeast() },
            new[] { new PrimitiveForm(Commits + "MarginCommit", new[] { Ctor("margin", Param("threshold")), Ctor("atLeast", Param("at_least")) }) },
            Commit: a => new MarginCommitPlan(a.Expr("threshold")!, a.Expr("at_least")), Written: "margin >= m", Preserves: Preserves.None),
        new PrimitiveDescriptor(
            "credit", PrimitiveRole.Commit, "positions whose accumulated trace credit reaches the threshold (CreditDecoding)", Masked,
            new[]
            {
                new ParameterSignature("state", ArgKind.State, Required: true, Positional: true, Description: "a credits(...) state", StateKind: StateKind.Credits),
                Float("threshold", "credit to commit", 0, 1, required: true), AtLeast(),
            },
            new[]
            {
                new PrimitiveForm(Commits + "CreditCommit", new[]
                {
                    Ctor("state", StateInstance("state")), Ctor("threshold", Param("threshold")), Ctor("atLeast", Param("at_least")),
                }, SelectsOnSession: true),
            },
            Commit: a => new CreditCommitPlan(a.Name("state"), a.Expr("threshold")!, a.Expr("at_least")), Written: "credit(state) >= t", Preserves: Preserves.None),
        new PrimitiveDescriptor(
            "local", PrimitiveRole.Commit, "local determinism propagation: positions near a confident anchor commit together", Masked,
            new[]
            {
                Float("anchor", "confidence that makes a position an anchor", 0, 1, required: true),
                Int("radius", "positions around an anchor", required: true), AtLeast(),
            },
            new[]
            {
                new PrimitiveForm(Commits + "LocalCommit", new[] { Ctor("anchor", Param("anchor")), Ctor("radius", Param("radius")), Ctor("atLeast", Param("at_least")) }),
            },
            Commit: a => new LocalCommitPlan(a.Expr("anchor")!, a.Expr("radius")!, a.Expr("at_least")), Written: "local(anchor: a, radius: r)", Preserves: Preserves.None),
        new PrimitiveDescriptor(
            "draft_verify", PrimitiveRole.Commit, "draft every masked position, keep what one-by-one decoding would also produce (lossless)", Masked,
            new ParameterSignature[0],
            new[]
            {
                new PrimitiveForm(Commits + "DraftVerifyCommit", new[]
                {
                    Ctor("session", Engine(EngineValue.MaskedSession)), Ctor("drafts", Constant(Literal.Int(DraftVerifyDrafts))),
                }, SelectsOnSession: true, Disposable: true),
            },
            Commit: _ => new DraftVerifyCommitPlan(), Preserves: Preserves.Lossless, Caches: ExactCacheOnly),
        new PrimitiveDescriptor(
            "verify_tree", PrimitiveRole.Commit, "self speculative decoding (SSD): draft from the model's own predictions, verify a hierarchical tree of canvases in one batched forward, keep what one-by-one decoding commits (lossless)", Masked,
            new[]
            {
                Int("depth", "tree levels: the most commits one step accepts", max: 32, fallback: 6),
                Int("width", "candidates per level after the first (1: a chain, as draft_verify)", max: 8, fallback: 2),
            },
            new[]
            {
                new PrimitiveForm(Commits + "VerifyTreeCommit", new[]
                {
                    Ctor("session", Engine(EngineValue.MaskedSession)), Ctor("depth", Param("depth")), Ctor("width", Param("width")),
                }, SelectsOnSession: true, Disposable: true),
            },
            Commit: a => new VerifyTreeCommitPlan(a.Expr("depth"), a.Expr("width")), Written: "verify_tree(depth: d, width: w)", Preserves: Preserves.Lossless, Caches: ExactCacheOnly),
        new PrimitiveDescriptor(
            "pipelined", PrimitiveRole.Commit, "D2F pipelined blocks: confident positions of the next blocks commit once the block before them is 'add' complete, before the current block finishes", Masked,
            new[]
            {
                Float("threshold", "confidence to commit, in every active block", 0, 1, required: true),
                Float("add", "completed share of a block at which the block after it starts", 0, 1, fallback: 0.5),
                Int("ahead", "blocks after the current one that may be active", max: 8, fallback: 1),
                AtLeast(),
            },
            new[]
            {
                new PrimitiveForm(Commits + "PipelinedCommit", new[]
                {
                    Ctor("threshold", Param("threshold")), Ctor("add", Param("add")), Ctor("ahead", Param("ahead")), Ctor("atLeast", Param("at_least")),
                }, SelectsOnSession: true),
            },
            Commit: a => new PipelinedCommitPlan(a.Expr("threshold")!, a.Expr("add"), a.Expr("ahead"), a.Expr("at_least")), Written: "pipelined(threshold: t)", Preserves: Preserves.None,
            Caches: new[] { CacheMode.None, CacheMode.Prefix },
            CachesWhy: "the next blocks need this step's predictions, which the dual cache does not compute (it forwards the current block only)",
            CommitsBeyondBlock: true),
    };

    // The lossless verification rules forward whole canvases without a cache: a cached key would be stale.
    // (A property, not a field: Default is built by a static initialiser that runs before later fields'.)
    private static CacheMode[] ExactCacheOnly => new[] { CacheMode.None };

    // ---- constraints: what the output must match (docs/language.md, "constrain") ----
    // Causal canvases only for now: the masked engine applies no constraint yet. DINGO's dynamic program over a masked
    // block is exact for regular constraints; when src/Runtime/Masked has it, add Masked to the canvases of regex, json
    // and grammar (the binder then refuses only recursive grammars there).
    private static PrimitiveDescriptor[] ConstraintPrimitives() => new[]
    {
        new PrimitiveDescriptor(
            "regex", PrimitiveRole.Constraint, "the output matches a regex in full (Python / ECMAScript syntax)", CausalAndMasked,
            new[] { new ParameterSignature("pattern", ArgKind.String, Required: true, Positional: true, Description: "the pattern, a string literal", Language: PatternLanguage.Regex) },
            new[] { new PrimitiveForm(Constraints + "RegexConstraint", new[] { Ctor("pattern", Param("pattern")), Ctor("vocabulary", Engine(EngineValue.Vocabulary)) }) },
            Preserves: Preserves.Both),
        new PrimitiveDescriptor(
            "json", PrimitiveRole.Constraint, "JSON valid under a JSON Schema file (Outlines' subset); without a schema, any JSON value", CausalAndMasked,
            new[]
            {
                new ParameterSignature("schema", ArgKind.File, Description: "a JSON Schema file, relative to the .pdec file", Language: PatternLanguage.JsonSchema),
                Int("depth", "how deep an unconstrained value may nest (JSON is not regular)", fallback: 2),
            },
            new[]
            {
                new PrimitiveForm(Constraints + "JsonSchemaConstraint", new[]
                {
                    Ctor("schema", Param("schema")), Ctor("file", FilePath("schema")), Ctor("depth", Param("depth")), Ctor("vocabulary", Engine(EngineValue.Vocabulary)),
                }, When: "schema"),
                new PrimitiveForm(Constraints + "AnyJsonConstraint", new[] { Ctor("depth", Param("depth")), Ctor("vocabulary", Engine(EngineValue.Vocabulary)) }),
            },
            ContextFree: true, Preserves: Preserves.Both), // recursive $refs become a pushdown grammar

        new PrimitiveDescriptor(
            "grammar", PrimitiveRole.Constraint, "the output derives from a GBNF grammar file's root rule (llama.cpp's format)", CausalAndMasked,
            new[] { new ParameterSignature("file", ArgKind.File, Required: true, Positional: true, Description: "a GBNF file, relative to the .pdec file", Language: PatternLanguage.Gbnf) },
            new[]
            {
                new PrimitiveForm(Constraints + "GbnfConstraint", new[] { Ctor("grammar", Param("file")), Ctor("file", FilePath("file")), Ctor("vocabulary", Engine(EngineValue.Vocabulary)) }),
            },
            ContextFree: true, Preserves: Preserves.Both), // recursive rules run on the pushdown matcher

        new PrimitiveDescriptor(
            "runtime", PrimitiveRole.Constraint, "the request's constraint (GenerationOptions.Constraint, ChatOptions.ResponseFormat, response_format)", Causal,
            new ParameterSignature[0],
            new[] { new PrimitiveForm(Constraints + "RequestConstraint", new ConstructorArgument[0]) },
            Preserves: Preserves.Both),
    };

    private static ParameterSignature AtLeast() =>
        new("at_least", ArgKind.Int, Description: "positions committed at least (', at least n')", Min: 1, Default: Literal.Int(1));
}
