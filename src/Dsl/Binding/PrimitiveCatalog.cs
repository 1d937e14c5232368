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

    /// <summary>Another strategy of the file, run as an engine: <c>Name</c> or <c>Name(role: model, ...)</c> (staged speculation).</summary>
    Strategy,

    /// <summary>A string literal (a regex); checked by the parser of its <see cref="ParameterSignature.Language"/>, if any.</summary>
    String,

    /// <summary>A string literal naming a file relative to the .pdec file, read when the strategy is compiled (a JSON
    /// Schema, a GBNF grammar); the generator reads it as an AdditionalFile.</summary>
    File,
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
    bool AllowsState = false,
    Literal? Default = null,
    bool ExclusiveMin = false,
    Constraints.PatternLanguage? Language = null);

/// <summary>A primitive's name and parameters; argument binding is table-driven from these.</summary>
public sealed record PrimitiveSignature(string Name, params ParameterSignature[] Parameters)
{
    public ParameterSignature? Find(string name) => Parameters.FirstOrDefault(p => p.Name == name);

    public string ParameterList => string.Join(", ", Parameters.Select(p => p.Name));
}

/// <summary>
/// The parameters of the language's own constructs — canvases, model kinds, verify modes, block rules, stop
/// conditions. Runtime primitives (proposers, acceptance rules, states, commit rules) are described by their
/// <see cref="Primitives.PrimitiveDescriptor"/>s in <see cref="Primitives.PrimitiveLibrary"/>.
/// </summary>
public static class PrimitiveCatalog
{
    private static readonly ModelKind[] Causal = { ModelKind.Causal };

    // ---- model kinds ----
    public static PrimitiveSignature Medusa { get; } = new(
        "medusa",
        new ParameterSignature("target", ArgKind.Model, Required: true, Positional: true, Description: "the causal model the heads sit on", ModelKinds: Causal),
        new ParameterSignature("heads", ArgKind.Int, Required: true, Positional: true, Description: "number of heads", Min: 1, Max: 16));

    public static PrimitiveSignature Self { get; } = new(
        "self",
        new ParameterSignature("target", ArgKind.Model, Required: true, Positional: true, Description: "the causal model to skip layers of", ModelKinds: Causal),
        new ParameterSignature("skip", ArgKind.LayerRange, Required: true, Description: "layers skipped, e.g. 4..7"));

    /// <summary><c>masked</c> / <c>masked(block_causal: n, shifted: b)</c>: what kind of denoiser the model is.</summary>
    public static PrimitiveSignature MaskedModel { get; } = new(
        "masked",
        new ParameterSignature("block_causal", ArgKind.Int, Description: "the denoiser's block: causal across blocks of this many positions, bidirectional inside one (omitted: fully bidirectional)", Min: 1),
        new ParameterSignature("shifted", ArgKind.Bool, Description: "whether the logits at position i predict the token at i + 1 (omitted: either)"));

    public static IReadOnlyList<string> ModelKinds { get; } = new[] { "causal", "masked", "medusa", "self" };

    // ---- canvas ----
    public static PrimitiveSignature CausalCanvas { get; } = new(
        "causal",
        new ParameterSignature("batch", ArgKind.Int, Description: "sequences decoded together", Min: 1));

    // No 'batch' on masked canvases: the masked engines decode one sequence (a batch parameter would be consumed by nothing).
    public static PrimitiveSignature MaskedCanvas { get; } = new(
        "masked",
        new ParameterSignature("block", ArgKind.Int, Required: true, Description: "mask tokens per block", Min: 1));

    // ---- verify / block / stop (commit rules are descriptors) ----
    public static PrimitiveSignature VerifyMode { get; } = new(
        "verify mode",
        new ParameterSignature("max_width", ArgKind.Int, Description: "candidate tokens one verify forward may hold", Min: 1));

    public const int DefaultMaxWidth = 64;

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

    // ---- guarantees of the language's own constructs (primitives carry theirs in their descriptors) ----

    /// <summary>
    /// What each cache mode preserves: the causal KV cache and a masked canvas without a cache compute exactly what a
    /// full forward does; Fast-dLLM's block-wise caches reuse keys and values that later commits made stale.
    /// </summary>
    public static IReadOnlyList<ConstructGuarantee> CacheModes { get; } = new[]
    {
        new ConstructGuarantee("kv", Primitives.Preserves.Both, "the causal KV cache holds exactly the committed tokens' keys and values"),
        new ConstructGuarantee("none", Primitives.Preserves.Both, "every step re-runs the whole sequence"),
        new ConstructGuarantee("prefix", Primitives.Preserves.None, "the prefix's keys and values are reused across a block's steps, stale once the block changes (Fast-dLLM: approximate)"),
        new ConstructGuarantee("dual", Primitives.Preserves.None, "the prefix's and the suffix's keys and values are reused across a block's steps (Fast-dLLM: approximate)"),
    };

    public static ConstructGuarantee CacheMode(CacheMode mode) =>
        CacheModes[mode switch { Plan.CacheMode.Kv => 0, Plan.CacheMode.None => 1, Plan.CacheMode.Prefix => 2, _ => 3 }];

    /// <summary>
    /// The prefix cache on a block-causal denoiser (<c>masked(block_causal: n)</c>): it holds the finished model blocks
    /// only, whose keys and values nothing later can change, so it computes what recomputing everything computes.
    /// </summary>
    public static ConstructGuarantee BlockCausalPrefixCache { get; } = new("prefix", Primitives.Preserves.Both,
        "on a block_causal denoiser it holds the finished model blocks only, which attend to nothing after themselves: exact (Fast-dLLM v2's block cache)");

    /// <summary>The guarantee of <paramref name="mode"/> on a masked model that is block-causal or not.</summary>
    public static ConstructGuarantee CacheMode(CacheMode mode, bool blockCausal) =>
        blockCausal && mode == Plan.CacheMode.Prefix ? BlockCausalPrefixCache : CacheMode(mode);

    /// <summary>AdaBlock's adaptive block: the block boundaries, hence what one-token-per-step decoding fills, change.</summary>
    public static ConstructGuarantee AdaptiveBlock { get; } = new("block adaptive(...)", Primitives.Preserves.None,
        "the reference decodes fixed blocks; a block that ends at a predicted delimiter decodes other positions together");

    /// <summary>End-of-text prediction stops where the reference might still write text.</summary>
    public static ConstructGuarantee EotStop { get; } = new("stop eot(p)", Primitives.Preserves.None,
        "the decode ends where the model predicts end-of-text with probability p, not where the reference ends");
}

/// <summary>A construct of the language that is not a runtime primitive, with the guarantees it preserves and why.</summary>
public sealed record ConstructGuarantee(string Written, Primitives.Preserves Preserves, string Why);
