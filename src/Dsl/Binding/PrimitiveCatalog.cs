using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Plan;

namespace Pardec.Dsl.Binding;

public enum ArgKind
{
    Int,
    Float,
    Bool,

    /// <summary>A bare word that switches something on, e.g. <c>sample</c>.</summary>
    Flag,

    /// <summary>A model role name.</summary>
    Model,

    /// <summary>A state name.</summary>
    State,

    /// <summary>A choice list <c>[[0], [1], [0, 0]]</c>.</summary>
    Tree,

    /// <summary>An inclusive int range <c>a..b</c>.</summary>
    LayerRange,
}

/// <summary>One parameter of a primitive: its kind, whether it is required, and the bounds of literal values.</summary>
public sealed record ParameterSignature(
    string Name,
    ArgKind Kind,
    bool Required = false,
    bool Positional = false,
    string Description = "",
    double Min = double.NegativeInfinity,
    double Max = double.PositiveInfinity,
    ModelKind[]? ModelKinds = null,
    StateKind? StateKind = null,
    bool AllowsState = false);

/// <summary>A primitive's name and parameters; argument binding is table-driven from these.</summary>
public sealed record PrimitiveSignature(string Name, params ParameterSignature[] Parameters)
{
    public ParameterSignature? Find(string name) => Parameters.FirstOrDefault(p => p.Name == name);

    public string ParameterList => string.Join(", ", Parameters.Select(p => p.Name));
}

/// <summary>
/// The runtime primitives the language can name, with their parameters. Adding a primitive means adding
/// its signature here, its plan record in <c>Plan/</c>, and its runtime implementation — never a strategy.
/// </summary>
public static class PrimitiveCatalog
{
    private static readonly ModelKind[] Causal = { ModelKind.Causal };

    public static PrimitiveSignature Draft { get; } = new(
        "draft",
        new ParameterSignature("model", ArgKind.Model, Required: true, Positional: true, Description: "a causal draft model", ModelKinds: Causal),
        new ParameterSignature("length", ArgKind.Int, Required: true, Description: "tokens drafted per step", Min: 1, AllowsState: true),
        new ParameterSignature("sample", ArgKind.Flag, Description: "sample the draft and keep q(x)"),
        new ParameterSignature("stop_below", ArgKind.Float, Description: "end the draft when its confidence drops below this", Min: 0, Max: 1));

    public static PrimitiveSignature DraftTree { get; } = new(
        "draft_tree",
        new ParameterSignature("model", ArgKind.Model, Required: true, Positional: true, Description: "a causal draft model", ModelKinds: Causal),
        new ParameterSignature("depth", ArgKind.Int, Description: "tree depth", Min: 1),
        new ParameterSignature("topk", ArgKind.Int, Description: "nodes kept per depth", Min: 1),
        new ParameterSignature("shape", ArgKind.Tree, Description: "a static choice list"),
        new ParameterSignature("sample", ArgKind.Flag, Description: "sample the draft and keep q(x)"));

    public static PrimitiveSignature Heads { get; } = new(
        "heads",
        new ParameterSignature("model", ArgKind.Model, Required: true, Positional: true, Description: "a medusa(...) model", ModelKinds: new[] { ModelKind.Medusa }),
        new ParameterSignature("tree", ArgKind.Tree, Description: "a static Medusa choice list"),
        new ParameterSignature("sample", ArgKind.Flag, Description: "sample each head and keep q(x)"));

    public static PrimitiveSignature Jacobi { get; } = new(
        "jacobi",
        new ParameterSignature("window", ArgKind.Int, Required: true, Description: "positions guessed in parallel (W)", Min: 1),
        new ParameterSignature("ngram", ArgKind.Int, Description: "n-gram size N of the lookahead branch", Min: 2),
        new ParameterSignature("blocks", ArgKind.Int, Description: "Gauss-Seidel blocks over the window", Min: 1));

    public static PrimitiveSignature PoolMatch { get; } = new(
        "match",
        new ParameterSignature("guesses", ArgKind.Int, Required: true, Description: "n-grams verified per step (G)", Min: 0));

    public static PrimitiveSignature Lookup { get; } = new(
        "lookup",
        new ParameterSignature("max_ngram", ArgKind.Int, Required: true, Description: "longest n-gram matched", Min: 1),
        new ParameterSignature("length", ArgKind.Int, Required: true, Description: "tokens copied after the match", Min: 1),
        new ParameterSignature("min_ngram", ArgKind.Int, Description: "shortest n-gram matched", Min: 1));

    public static PrimitiveSignature SelfDraft { get; } = new(
        "self_draft",
        new ParameterSignature("model", ArgKind.Model, Required: true, Positional: true, Description: "a self(...) layer-skip model", ModelKinds: new[] { ModelKind.Self }),
        new ParameterSignature("length", ArgKind.Int, Required: true, Description: "tokens drafted per step", Min: 1, AllowsState: true),
        new ParameterSignature("sample", ArgKind.Flag, Description: "sample the draft and keep q(x)"),
        new ParameterSignature("stop_below", ArgKind.Float, Description: "end the draft when its confidence drops below this", Min: 0, Max: 1));

    /// <summary>Proposers called by name (pool matching is called on a state: <c>pool.match(...)</c>).</summary>
    public static IReadOnlyList<PrimitiveSignature> Proposers { get; } = new[] { Draft, DraftTree, Heads, Jacobi, Lookup, SelfDraft };

    public static IReadOnlyList<string> ProposerNames { get; } = Proposers.Select(p => p.Name).Concat(new[] { "<pool>.match" }).ToArray();

    // ---- model kinds ----
    public static PrimitiveSignature Medusa { get; } = new(
        "medusa",
        new ParameterSignature("target", ArgKind.Model, Required: true, Positional: true, Description: "the causal model the heads sit on", ModelKinds: Causal),
        new ParameterSignature("heads", ArgKind.Int, Required: true, Positional: true, Description: "number of heads", Min: 1, Max: 16));

    public static PrimitiveSignature Self { get; } = new(
        "self",
        new ParameterSignature("target", ArgKind.Model, Required: true, Positional: true, Description: "the causal model to skip layers of", ModelKinds: Causal),
        new ParameterSignature("skip", ArgKind.LayerRange, Required: true, Description: "layers skipped, e.g. 4..7"));

    public static IReadOnlyList<string> ModelKinds { get; } = new[] { "causal", "masked", "medusa", "self" };

    // ---- canvas ----
    public static PrimitiveSignature CausalCanvas { get; } = new(
        "causal",
        new ParameterSignature("batch", ArgKind.Int, Description: "sequences decoded together", Min: 1));

    public static PrimitiveSignature MaskedCanvas { get; } = new(
        "masked",
        new ParameterSignature("block", ArgKind.Int, Required: true, Description: "mask tokens per block", Min: 1),
        new ParameterSignature("batch", ArgKind.Int, Description: "sequences decoded together", Min: 1));

    // ---- state ----
    public static PrimitiveSignature NgramPool { get; } = new(
        "ngram_pool",
        new ParameterSignature("size", ArgKind.Int, Required: true, Description: "n-gram length N", Min: 2),
        new ParameterSignature("capacity", ArgKind.Int, Description: "n-grams kept per first token", Min: 1));

    public static PrimitiveSignature Credits { get; } = new(
        "credits",
        new ParameterSignature("decay", ArgKind.Float, Required: true, Description: "credit kept per step", Min: 0, Max: 1));

    public static PrimitiveSignature AdaptiveLength { get; } = new(
        "adaptive_length",
        new ParameterSignature("min", ArgKind.Int, Required: true, Description: "shortest draft", Min: 1),
        new ParameterSignature("max", ArgKind.Int, Required: true, Description: "longest draft", Min: 1),
        new ParameterSignature("initial", ArgKind.Int, Description: "first draft length", Min: 1));

    public static IReadOnlyList<PrimitiveSignature> States { get; } = new[] { NgramPool, Credits, AdaptiveLength };

    // ---- accept / commit / block / stop ----
    public static PrimitiveSignature Rejection { get; } = new(
        "rejection",
        new ParameterSignature("temperature", ArgKind.Float, Description: "sampling temperature", Min: 0));

    public static PrimitiveSignature Typical { get; } = new(
        "typical",
        new ParameterSignature("eps", ArgKind.Float, Required: true, Description: "hard threshold epsilon", Min: 0, Max: 1),
        new ParameterSignature("delta", ArgKind.Float, Required: true, Description: "entropy-scaled threshold delta", Min: 0),
        new ParameterSignature("temperature", ArgKind.Float, Description: "sampling temperature", Min: 0));

    public static IReadOnlyList<string> AcceptRules { get; } = new[] { "greedy", "rejection", "typical(eps: e, delta: d)" };

    public static PrimitiveSignature VerifyMode { get; } = new(
        "verify mode",
        new ParameterSignature("max_width", ArgKind.Int, Description: "candidate tokens one verify forward may hold", Min: 1));

    public const int DefaultMaxWidth = 64;

    public static PrimitiveSignature Factor { get; } = new(
        "factor",
        new ParameterSignature("f", ArgKind.Float, Required: true, Positional: true, Description: "the factor f", Min: 0));

    public static PrimitiveSignature Local { get; } = new(
        "local",
        new ParameterSignature("anchor", ArgKind.Float, Required: true, Description: "confidence that makes a position an anchor", Min: 0, Max: 1),
        new ParameterSignature("radius", ArgKind.Int, Required: true, Description: "positions around an anchor", Min: 1));

    public static PrimitiveSignature Credit { get; } = new(
        "credit",
        new ParameterSignature("state", ArgKind.State, Required: true, Positional: true, Description: "a credits(...) state", StateKind: StateKind.Credits));

    public static IReadOnlyList<string> CommitRules { get; } = new[]
    {
        "one", "top k", "confidence >= t", "factor(f)", "margin >= m", "credit(state) >= t", "local(anchor: a, radius: r)", "draft_verify",
    };

    public static PrimitiveSignature Adaptive { get; } = new(
        "adaptive",
        new ParameterSignature("min", ArgKind.Int, Required: true, Description: "smallest block", Min: 1),
        new ParameterSignature("max", ArgKind.Int, Required: true, Description: "largest block", Min: 1),
        new ParameterSignature("delimiter", ArgKind.Float, Description: "delimiter confidence that ends a block", Min: 0, Max: 1));

    public static PrimitiveSignature MaxTokens { get; } = new(
        "max_tokens",
        new ParameterSignature("limit", ArgKind.Int, Positional: true, Description: "token budget", Min: 1));

    public static PrimitiveSignature Eot { get; } = new(
        "eot",
        new ParameterSignature("threshold", ArgKind.Float, Required: true, Positional: true, Description: "end-of-text probability", Min: 0, Max: 1));

    public static IReadOnlyList<string> StopConditions { get; } = new[] { "eos", "max_tokens", "stop_strings", "eot(p)" };
}
