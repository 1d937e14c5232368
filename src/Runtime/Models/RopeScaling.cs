using System.Text.Json;
using Pardec.Runtime.Loading;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>
/// RoPE frequency scaling as a checkpoint's <c>rope_scaling</c> (or transformers 5's <c>rope_parameters</c>) states it.
/// The formulas are transformers' <c>modeling_rope_utils.py</c> (<c>_compute_linear_scaling_rope_parameters</c>,
/// <c>_compute_llama3_parameters</c>, <c>_compute_yarn_parameters</c>): each rewrites the inverse frequencies and may
/// return an attention factor that multiplies cos and sin.
/// </summary>
public sealed record RopeScaling
{
    /// <summary><c>linear</c> (position interpolation), <c>llama3</c> (Llama 3.1+'s banded scaling) or <c>yarn</c>.</summary>
    public required string Type { get; init; }
    public required double Factor { get; init; }
    /// <summary>llama3: wavelengths above <c>original / low_freq_factor</c> are divided by the factor.</summary>
    public double LowFreqFactor { get; init; } = 1.0;
    /// <summary>llama3: wavelengths below <c>original / high_freq_factor</c> are kept.</summary>
    public double HighFreqFactor { get; init; } = 4.0;
    /// <summary>llama3 and yarn: the context the model was pre-trained with.</summary>
    public int? OriginalMaxPositionEmbeddings { get; init; }
    /// <summary>yarn: the ramp's ends in rotations (defaults 32 and 1).</summary>
    public double BetaFast { get; init; } = 32;
    public double BetaSlow { get; init; } = 1;
    /// <summary>yarn: the factor on cos/sin; when absent it follows from <see cref="Mscale"/> / <see cref="MscaleAllDim"/>.</summary>
    public double? AttentionFactor { get; init; }
    public double? Mscale { get; init; }
    public double? MscaleAllDim { get; init; }
    /// <summary>yarn: whether the correction range is rounded to whole dimensions (default true).</summary>
    public bool Truncate { get; init; } = true;

    private static readonly string[] SupportedTypes = ["linear", "llama3", "yarn"];

    /// <summary>Parses a <c>rope_scaling</c> object; <c>default</c> means none. Unknown types are an error naming them.</summary>
    public static RopeScaling? Parse(JsonElement e, string source, string field)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new ModelLoadException(source, field, $"expected an object, got {e.GetRawText()}");
        string? type = Str(e, "rope_type", source, field) ?? Str(e, "type", source, field);
        if (type is null) throw new ModelLoadException(source, $"{field}.rope_type", "required field is missing");
        if (type == "default") return null;
        if (Array.IndexOf(SupportedTypes, type) < 0)
            throw new ModelLoadException(source, $"{field}.rope_type",
                $"unsupported RoPE scaling type '{type}'; supported: {string.Join(", ", SupportedTypes)} (and default)");
        double factor = Num(e, "factor", source, field) ?? throw new ModelLoadException(source, $"{field}.factor", "required field is missing");
        if (factor <= 0) throw new ModelLoadException(source, $"{field}.factor", $"must be positive, got {factor}");
        var scaling = new RopeScaling
        {
            Type = type,
            Factor = factor,
            LowFreqFactor = Num(e, "low_freq_factor", source, field) ?? 1.0,
            HighFreqFactor = Num(e, "high_freq_factor", source, field) ?? 4.0,
            OriginalMaxPositionEmbeddings = (int?)Num(e, "original_max_position_embeddings", source, field),
            BetaFast = Num(e, "beta_fast", source, field) ?? 32,
            BetaSlow = Num(e, "beta_slow", source, field) ?? 1,
            AttentionFactor = Num(e, "attention_factor", source, field),
            Mscale = Num(e, "mscale", source, field),
            MscaleAllDim = Num(e, "mscale_all_dim", source, field),
            Truncate = e.TryGetProperty("truncate", out var t) ? t.ValueKind != JsonValueKind.False : true,
        };
        if (type == "llama3")
        {
            if (scaling.OriginalMaxPositionEmbeddings is null)
                throw new ModelLoadException(source, $"{field}.original_max_position_embeddings", "required for rope_type llama3");
            if (scaling.HighFreqFactor <= scaling.LowFreqFactor)
                throw new ModelLoadException(source, $"{field}.high_freq_factor",
                    $"must exceed low_freq_factor ({scaling.LowFreqFactor}), got {scaling.HighFreqFactor}");
        }
        return scaling;
    }

    /// <summary>transformers 5's <c>rope_parameters</c>: <c>rope_theta</c> plus, unless <c>rope_type</c> is default, the scaling.</summary>
    public static (double Theta, RopeScaling? Scaling) ParseParameters(JsonElement e, string source, string field, double defaultTheta)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new ModelLoadException(source, field, $"expected an object, got {e.GetRawText()}");
        double theta = Num(e, "rope_theta", source, field) ?? defaultTheta;
        bool typed = e.TryGetProperty("rope_type", out _) || e.TryGetProperty("type", out _);
        return (theta, typed ? Parse(e, source, field) : null);
    }

    internal void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("rope_type", Type);
        w.WriteNumber("factor", Factor);
        if (Type == "llama3") { w.WriteNumber("low_freq_factor", LowFreqFactor); w.WriteNumber("high_freq_factor", HighFreqFactor); }
        if (OriginalMaxPositionEmbeddings is int original) w.WriteNumber("original_max_position_embeddings", original);
        if (Type == "yarn")
        {
            w.WriteNumber("beta_fast", BetaFast); w.WriteNumber("beta_slow", BetaSlow);
            if (AttentionFactor is double a) w.WriteNumber("attention_factor", a);
            if (Mscale is double m) w.WriteNumber("mscale", m);
            if (MscaleAllDim is double mad) w.WriteNumber("mscale_all_dim", mad);
            if (!Truncate) w.WriteBoolean("truncate", false);
        }
        w.WriteEndObject();
    }

    /// <summary>
    /// The scaled inverse frequencies (<c>[headDim / 2]</c>) and the cos/sin factor for a model with these dimensions:
    /// what the rotary tables are built from, for inspection and tests.
    /// </summary>
    public (float[] InverseFrequencies, double AttentionFactor) Compute(int headDim, double theta, int maxPositionEmbeddings)
    {
        using var scope = torch.NewDisposeScope();
        using Scalar d = headDim;
        var plain = torch.pow(theta, torch.arange(0, headDim, 2, ScalarType.Int64).to_type(ScalarType.Float32) / d).reciprocal();
        var (inv, factor) = Apply(plain, headDim, theta, maxPositionEmbeddings);
        return (inv.data<float>().ToArray(), factor);
    }

    /// <summary>
    /// Rewrites plain RoPE's inverse frequencies <paramref name="invFreq"/> (<c>[headDim / 2]</c> float32, <c>1 / theta^(2i/d)</c>)
    /// and returns the factor applied to cos and sin (1 except for yarn).
    /// </summary>
    internal (Tensor InvFreq, double AttentionFactor) Apply(Tensor invFreq, int headDim, double theta, int maxPositionEmbeddings)
    {
        switch (Type)
        {
            case "linear":
                return (invFreq / Factor, 1.0);
            case "llama3":
            {
                // Llama 3.1: wavelengths longer than original/low_freq_factor are interpolated (divided by factor),
                // shorter than original/high_freq_factor kept, and those between blended linearly in original/wavelength.
                double original = OriginalMaxPositionEmbeddings!.Value;
                double lowFreqWavelen = original / LowFreqFactor, highFreqWavelen = original / HighFreqFactor;
                var wavelen = invFreq.reciprocal() * (2 * Math.PI);
                var scaled = torch.where(wavelen > lowFreqWavelen, invFreq / Factor, invFreq);
                var smooth = (wavelen.reciprocal() * original - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
                var smoothed = (1 - smooth) * scaled / Factor + smooth * scaled;
                var medium = (wavelen < highFreqWavelen).logical_not().logical_and((wavelen > lowFreqWavelen).logical_not());
                return (torch.where(medium, smoothed, scaled), 1.0);
            }
            case "yarn":
            {
                // YaRN (Peng et al. 2023): dimensions that rotate fewer than beta_slow times over the original context are
                // interpolated, more than beta_fast extrapolated, with a linear ramp between; cos/sin scaled by mscale.
                double original = OriginalMaxPositionEmbeddings ?? maxPositionEmbeddings;
                double factor = Factor;
                static double GetMscale(double scale, double m) => scale <= 1 ? 1.0 : 0.1 * m * Math.Log(scale) + 1.0;
                double attention = AttentionFactor
                    ?? (Mscale is double m && MscaleAllDim is double mad ? GetMscale(factor, m) / GetMscale(factor, mad) : GetMscale(factor, 1));
                double CorrectionDim(double rotations) => headDim * Math.Log(original / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
                double low = CorrectionDim(BetaFast), high = CorrectionDim(BetaSlow);
                if (Truncate) { low = Math.Floor(low); high = Math.Ceiling(high); }
                low = Math.Max(low, 0); high = Math.Min(high, headDim - 1);
                if (low == high) high += 0.001; // as transformers: no division by zero
                var ramp = ((torch.arange(headDim / 2, ScalarType.Float32) - low) / (high - low)).clamp(0, 1);
                var extrapolation = 1 - ramp;
                var interpolated = invFreq / factor;
                return (interpolated * (1 - extrapolation) + invFreq * extrapolation, attention);
            }
            default:
                throw new InvalidOperationException($"unknown RoPE scaling type '{Type}'");
        }
    }

    private static string? Str(JsonElement e, string name, string source, string field)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw new ModelLoadException(source, $"{field}.{name}", $"expected a string, got {v.GetRawText()}");
        return v.GetString();
    }

    private static double? Num(JsonElement e, string name, string source, string field)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number) throw new ModelLoadException(source, $"{field}.{name}", $"expected a number, got {v.GetRawText()}");
        return v.GetDouble();
    }
}
