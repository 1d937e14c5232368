using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

/// <summary>
/// A cost-realistic stand-in for a larger target whose output equals a small trained target's exactly: the MLPs are
/// widened with zero columns and extra decoder layers are appended whose attention output and MLP down projections
/// are zero, so every added product contributes exactly 0 to the residual stream — while the matmuls still cost what a
/// model of that size costs. On a 4M-parameter model per-op overhead hides what parallel verification saves; on ~100M
/// parameters one forward is bandwidth-bound, as on real models (the peer check pads llama.cpp's model the same way).
/// </summary>
public static class PaddedModel
{
    public static CausalLMBase Pad(CausalLMBase source, int extraLayers, int intermediate, long seed = 7)
    {
        var c = source.Config;
        if (c.Architecture != ModelArchitecture.Llama) throw new ArgumentException("Padding is implemented for Llama-layout models.");
        if (intermediate < c.IntermediateSize) throw new ArgumentException("The padded MLP must be at least as wide as the source's.");
        var config = c with { NumHiddenLayers = c.NumHiddenLayers + extraLayers, IntermediateSize = intermediate };
        var padded = CausalLM.CreateRandom(config, source.Device, source.DType, seed, std: 0.02);
        using var _ = no_grad();
        var from = source.state_dict();
        foreach (var (name, target) in padded.state_dict())
        {
            int layer = LayerOf(name);
            if (layer >= c.NumHiddenLayers)
            {
                // An appended layer: keep its random q/k/v/gate/up (they cost real work) but zero what writes back.
                if (name.EndsWith("o_proj.weight", StringComparison.Ordinal) || name.EndsWith("down_proj.weight", StringComparison.Ordinal)) target.zero_();
                continue;
            }
            var src = from[name];
            if (src.shape.SequenceEqual(target.shape)) { target.copy_(src); continue; }
            // A widened MLP: the source weights in the leading block, zeros elsewhere (silu(0) * 0 = 0 and 0-columns of down).
            target.zero_();
            var view = target;
            for (int d = 0; d < src.dim(); d++) view = view.narrow(d, 0, src.shape[d]);
            view.copy_(src);
        }
        padded.eval();
        return padded;
    }

    private static int LayerOf(string name)
    {
        const string marker = "layers.";
        int at = name.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return -1;
        int end = name.IndexOf('.', at + marker.Length);
        return int.Parse(name.AsSpan(at + marker.Length, end - at - marker.Length));
    }

    public static long Parameters(CausalLMBase model) => model.parameters().Sum(p => p.numel());
}
