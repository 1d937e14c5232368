using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>RMSNorm (Zhang &amp; Sennrich 2019) as HF Llama computes it: the statistics in float32, the scale in the model dtype.</summary>
internal sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter _weight; // [hidden]
    private readonly Scalar _eps;
    private static readonly long[] LastDim = [-1];

    public RmsNorm(int hidden, double eps, Device device, ScalarType dtype) : base("RmsNorm")
    {
        _weight = new Parameter(torch.ones(hidden, dtype, device));
        _eps = eps;
        register_parameter("weight", _weight);
    }

    internal Tensor Weight => _weight;

    public override Tensor forward(Tensor x)
    {
        var xf = x.to_type(ScalarType.Float32);
        var inv = (xf * xf).mean(LastDim, keepdim: true).add_(_eps, Scalars.One).rsqrt_(); // [.., 1]; not square(), explicit alpha: see Scalars
        return _weight * (xf * inv).to_type(x.dtype);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _eps.Dispose();
        base.Dispose(disposing);
    }
}
