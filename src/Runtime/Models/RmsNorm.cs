using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>
/// RMSNorm (Zhang &amp; Sennrich 2019) as HF Llama computes it: the statistics in float32, the scale in the model dtype;
/// or as Gemma computes it (<paramref name="offsetOne"/>): everything in float32 with the scale <c>1 + w</c>, then cast.
/// </summary>
internal sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter _weight; // [hidden]
    private readonly Scalar _eps;
    private static readonly long[] LastDim = [-1];

    private readonly bool _offsetOne;

    public RmsNorm(int hidden, double eps, Device device, ScalarType dtype, bool offsetOne = false) : base("RmsNorm")
    {
        _offsetOne = offsetOne;
        // Gemma's scale is 1 + w, so its identity is w = 0.
        _weight = new Parameter(offsetOne ? torch.zeros(hidden, dtype, device) : torch.ones(hidden, dtype, device));
        _eps = eps;
        register_parameter("weight", _weight);
    }

    internal Tensor Weight => _weight;

    public override Tensor forward(Tensor x)
    {
        var xf = x.to_type(ScalarType.Float32);
        var inv = (xf * xf).mean(LastDim, keepdim: true).add_(_eps, Scalars.One).rsqrt_(); // [.., 1]; not square(), explicit alpha: see Scalars
        if (_offsetOne) return (xf * inv).mul(_weight.to_type(ScalarType.Float32).add(Scalars.One)).to_type(x.dtype);
        return _weight * (xf * inv).to_type(x.dtype);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _eps.Dispose();
        base.Dispose(disposing);
    }
}
