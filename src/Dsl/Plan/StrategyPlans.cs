using Pardec.Dsl.Collections;

namespace Pardec.Dsl.Plan;

public enum CanvasKind
{
    /// <summary>Append-only sequence with a KV cache.</summary>
    Causal,

    /// <summary>Blocks of mask tokens that a diffusion LM fills in.</summary>
    Masked,
}

public enum CacheMode
{
    /// <summary>The ordinary causal KV cache (causal canvases).</summary>
    Kv,

    /// <summary>No cache: every step re-runs the whole sequence (LLaDA reference).</summary>
    None,

    /// <summary>Cache the committed prefix before the current block (Fast-dLLM).</summary>
    Prefix,

    /// <summary>Cache both the prefix and the masked suffix after the block (Fast-dLLM dual cache).</summary>
    Dual,
}

/// <summary>What is being filled: <c>causal</c> (optionally batched) or <c>masked(block: n)</c>.</summary>
public sealed record CanvasPlan(CanvasKind Kind, Expr? BlockSize, CacheMode Cache, Expr? Batch)
{
    public override string ToString() => Kind switch
    {
        CanvasKind.Masked => "masked(" + DecodePlan.Args(("block", BlockSize), ("batch", Batch)) + ")",
        _ => Batch is null ? "causal" : "causal(batch: " + Batch + ")",
    };
}

public enum ModelKind
{
    Causal,
    Masked,

    /// <summary>Medusa heads on top of a causal target (Cai et al., "Medusa: Simple LLM Inference Acceleration Framework with Multiple Decoding Heads").</summary>
    Medusa,

    /// <summary>The target itself with a range of layers skipped (self-speculative drafting).</summary>
    Self,
}

/// <summary>A model role. <see cref="Target"/> is the role a Medusa or self model is attached to; <see cref="Denoiser"/>
/// what kind of denoiser a masked model is (null: fully bidirectional, its logits shifted or not).</summary>
public sealed record ModelPlan(string Role, ModelKind Kind, string? Target = null, Expr? Heads = null, LayerRange? Skip = null, DenoiserPlan? Denoiser = null)
{
    public override string ToString() => Role + ": " + Kind switch
    {
        ModelKind.Medusa => $"medusa({Target}, {Heads})",
        ModelKind.Self => $"self({Target}, skip: {Skip})",
        ModelKind.Masked when Denoiser is not null => "masked(" + Denoiser + ")",
        _ => Kind.ToString().ToLowerInvariant(),
    };
}

/// <summary>
/// What kind of denoiser a masked model is: <see cref="BlockCausal"/> set for a block-causal one (causal across blocks of
/// that many positions from position 0, bidirectional inside a block: Fast-dLLM v2's <c>bd_size</c>), null for a fully
/// bidirectional one (LLaDA, Dream); <see cref="Shifted"/> a bool literal when the strategy says whether the logits at
/// position i predict the token at i + 1 (Dream, Fast-dLLM v2) or at i (LLaDA), null when either will do. The runtime
/// checks the model's config against it when a decoder is built.
/// </summary>
public sealed record DenoiserPlan(Expr? BlockCausal, Expr? Shifted)
{
    public override string ToString() => DecodePlan.Args(("block_causal", BlockCausal), ("shifted", Shifted));
}

/// <summary>Inclusive layer range, e.g. the layers a self-speculative draft skips.</summary>
public sealed record LayerRange(int First, int Last)
{
    /// <summary>Every layer index of the range, in order.</summary>
    public int[] Layers()
    {
        var layers = new int[Last - First + 1];
        for (int i = 0; i < layers.Length; i++) layers[i] = First + i;
        return layers;
    }

    public override string ToString() => First + ".." + Last;
}

/// <summary>A numeric interval with explicit bound kinds: <c>(0, 1]</c> is Lower 0 exclusive, Upper 1 inclusive.</summary>
public sealed record RangePlan(double Lower, bool LowerInclusive, double Upper, bool UpperInclusive)
{
    public bool Contains(double value) =>
        (LowerInclusive ? value >= Lower : value > Lower) && (UpperInclusive ? value <= Upper : value < Upper);

    public bool IsEmpty => Lower > Upper || (Lower == Upper && !(LowerInclusive && UpperInclusive));

    public string Format(ParamType type) => type == ParamType.Int && LowerInclusive && UpperInclusive
        ? Expr.Format(Lower, type) + ".." + Expr.Format(Upper, type)
        : (LowerInclusive ? "[" : "(") + Expr.Format(Lower, type) + ", " + Expr.Format(Upper, type) + (UpperInclusive ? "]" : ")");
}

/// <summary>A typed param. Build-time unless <see cref="Runtime"/>; the default is always within the range.</summary>
public sealed record ParamPlan(string Name, ParamType Type, Literal Default, RangePlan? Range, bool Runtime)
{
    public override string ToString() =>
        $"{Name}: {Type.ToString().ToLowerInvariant()} = {Default}"
        + (Range is null ? string.Empty : " in " + Range.Format(Type))
        + (Runtime ? " runtime" : string.Empty);
}

public enum StateKind
{
    /// <summary>n-gram pool filled from the Jacobi window or the context (lookahead decoding; ANPD).</summary>
    NgramPool,

    /// <summary>Per-position trace credits that accumulate confidence over steps (CreditDecoding).</summary>
    Credits,

    /// <summary>A draft length that grows on full acceptance and shrinks on rejection.</summary>
    AdaptiveLength,

    /// <summary>A draft length (or tree budget) priced by the measured verify cost and the observed acceptance; 0 is a plain step.</summary>
    CostAware,
}

public sealed record NamedExpr(string Name, Expr Value)
{
    public override string ToString() => Name + ": " + Value;
}

/// <summary>Strategy state that survives between steps.</summary>
public sealed record StatePlan(string Name, StateKind Kind, EquatableArray<NamedExpr> Args)
{
    public static string KindName(StateKind kind) => kind switch
    {
        StateKind.NgramPool => "ngram_pool",
        StateKind.Credits => "credits",
        StateKind.CostAware => "cost_aware",
        _ => "adaptive_length",
    };

    public Expr? Arg(string name)
    {
        foreach (NamedExpr arg in Args)
        {
            if (arg.Name == name)
            {
                return arg.Value;
            }
        }

        return null;
    }

    public override string ToString() => $"{Name} = {KindName(Kind)}({string.Join(", ", Args)})";
}

public sealed record UpdatePlan(string State, string Source)
{
    public override string ToString() => State + " from " + Source;
}

public abstract record StopPlan;

public sealed record EosStop : StopPlan
{
    public override string ToString() => "eos";
}

/// <summary>The caller's token budget, or a fixed one.</summary>
public sealed record MaxTokensStop(Expr? Limit) : StopPlan
{
    public override string ToString() => Limit is null ? "max_tokens" : $"max_tokens({Limit})";
}

public sealed record StopStringsStop : StopPlan
{
    public override string ToString() => "stop_strings";
}

/// <summary>
/// End-of-text prediction on a masked canvas: stop once the predicted probability that the rest is
/// padding/EOS reaches the threshold (EoTP in "Learning to Parallel: Accelerating Diffusion Large Language Models via Adaptive Parallel Decoding").
/// </summary>
public sealed record EotStopPlan(Expr Threshold) : StopPlan
{
    public override string ToString() => $"eot({Threshold})";
}
