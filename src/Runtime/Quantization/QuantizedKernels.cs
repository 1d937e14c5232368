using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Quantization;

/// <summary>
/// The quantized matmul as TorchScript: TorchSharp wraps neither <c>aten::_weight_int8pack_mm</c> nor the int4 ops, but
/// a script compiled from a string calls any ATen op. <see cref="LinearSource"/> is pasted into the compiled Llama forward
/// (<c>Models/ScriptedLlamaForward.cs</c>) and compiled here on its own for the eager modules, so both paths run the same
/// ops and give the same bits. Both kernels are libtorch's CPU kernels (the ones gpt-fast and torchao call on a CPU);
/// the int4 pack layout is the CPU kernel's own and depends on the CPU's ISA, so it is made at load time and never saved.
/// </summary>
internal static class QuantizedKernels
{
    /// <summary>
    /// <c>qlin(x [batch, n, in], w, s, b, has_bias) -> [batch, n, out]</c>. w int8 <c>[out, in]</c> with s <c>[out]</c>, or w the
    /// int4 CPU pack (uint8 <c>[out, in / 2]</c>) with s the scales and zeros <c>[in / group, out, 2]</c>; s in x's dtype. The
    /// kernels take 2-D activations. ScalarType codes: 1 is int8 (Char).
    /// </summary>
    public const string LinearSource = """
def qlin(x: Tensor, w: Tensor, s: Tensor, b: Tensor, has_bias: bool) -> Tensor:
    flat = x.reshape(-1, x.size(-1))
    if w.dtype == 1:
        y = torch._weight_int8pack_mm(flat, w, s)
    else:
        y = torch._weight_int4pack_mm_for_cpu(flat, w, x.size(-1) // s.size(0), s)
    y = y.view(x.size(0), x.size(1), w.size(0))
    if has_bias:
        y = y + b
    return y

""";

    private const string EagerSource = LinearSource + """
def eager_qlin(x: Tensor, w: Tensor, s: Tensor, b: Tensor) -> Tensor:
    return qlin(x, w, s, b, b.numel() > 0)

def pack_int4(q: Tensor) -> Tensor:
    return torch._convert_weight_to_int4pack_for_cpu(q, 2)

""";

    private static readonly Lazy<jit.CompilationUnit> Unit = new(() => jit.compile(EagerSource));

    /// <summary>The eager module's forward: the compiled forward's <c>qlin</c>, op for op. <paramref name="bias"/> empty = none.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor scales, Tensor bias) => (Tensor)Unit.Value.invoke("eager_qlin", x, weight, scales, bias);

    /// <summary>int32 nibbles <c>[out, in]</c> (0..15) to the int4 CPU kernel's pack (uint8 <c>[out, in / 2]</c>, ISA-specific).</summary>
    public static Tensor PackInt4(Tensor nibbles) => (Tensor)Unit.Value.invoke("pack_int4", nibbles);
}
