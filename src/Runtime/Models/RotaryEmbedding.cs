using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>
/// Rotary position embedding (RoFormer, Su et al. 2021) in HF Llama's "rotate half" layout. The cos/sin tables for
/// every position are computed once; a forward gathers the rows of its positions, so arbitrary (tree) positions work.
/// </summary>
internal sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor _cos; // [maxPositions, headDim] in the model dtype
    private readonly Tensor _sin; // [maxPositions, headDim]
    private readonly int _headDim;

    public RotaryEmbedding(int headDim, int maxPositions, double theta, Device device, ScalarType dtype, RopeScaling? scaling = null)
    {
        _headDim = headDim;
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        // Same float32 arithmetic as HF: inv_freq = 1 / theta^(2i/d); freqs = position * inv_freq; emb = [freqs, freqs].
        using Scalar headDimScalar = headDim; // reachable through the op (see Scalars); theta becomes a tensor the scope holds
        var invFreq = torch.pow(theta, torch.arange(0, headDim, 2, ScalarType.Int64).to_type(ScalarType.Float32) / headDimScalar).reciprocal();
        double attentionFactor = 1.0;
        if (scaling is not null) (invFreq, attentionFactor) = scaling.Apply(invFreq, headDim, theta, maxPositions);
        var pos = torch.arange(maxPositions, ScalarType.Int64).to_type(ScalarType.Float32);
        var freqs = pos.unsqueeze(1) * invFreq.unsqueeze(0);     // [maxPositions, headDim / 2]
        var emb = torch.cat([freqs, freqs], 1);                  // [maxPositions, headDim]
        var cos = emb.cos();
        var sin = emb.sin();
        if (attentionFactor != 1.0) { cos = cos * attentionFactor; sin = sin * attentionFactor; } // yarn's mscale, as transformers applies it
        _cos = cos.to(dtype, device).DetachFromDisposeScope();
        _sin = sin.to(dtype, device).DetachFromDisposeScope();
    }

    public int MaxPositions => (int)_cos.shape[0];
    internal Tensor CosTable => _cos;
    internal Tensor SinTable => _sin;

    /// <summary>Gathers the tables for <paramref name="positions"/> <c>[batch, n]</c>: cos and sin <c>[batch, 1, n, headDim]</c>.</summary>
    public (Tensor Cos, Tensor Sin) Lookup(Tensor positions)
    {
        long batch = positions.shape[0], n = positions.shape[1];
        var flat = positions.reshape(-1);
        var cos = _cos.index_select(0, flat).view(batch, 1, n, _headDim);
        var sin = _sin.index_select(0, flat).view(batch, 1, n, _headDim);
        return (cos, sin);
    }

    /// <summary>x <c>[batch, heads, n, headDim]</c> rotated: <c>x * cos + rotate_half(x) * sin</c>.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[3] / 2;
        var x1 = x.narrow(3, 0, half);
        var x2 = x.narrow(3, half, half);
        var rotated = torch.cat([x2.neg(), x1], 3);
        return (x * cos).add_(rotated * sin, Scalars.One); // explicit alpha: see Scalars
    }

    public void Dispose()
    {
        _cos.Dispose();
        _sin.Dispose();
    }
}
