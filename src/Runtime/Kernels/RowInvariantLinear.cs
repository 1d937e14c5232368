using System.Runtime.CompilerServices;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.Intrinsics;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Kernels;

/// <summary>
/// <c>y = x W^T (+ b)</c> for float32 on the CPU with few rows (a decode step: 1 token; a verification step: 2-32),
/// written here because nothing served does both things a decoder needs from it:
/// <list type="bullet">
/// <item><b>Row-count invariance, bit for bit.</b> Every output element is one dot product whose reduction order depends
/// only on the input width: one vector accumulator per (row, output), the input walked front to back in vector steps with
/// fused multiply-adds, a fixed horizontal sum, then the scalar tail in order. A token's logits are therefore the same
/// bits whether it is verified alone or in a chain of 16, so greedy verification in f32 reproduces one-token decoding
/// exactly. libtorch's f32 <c>linear</c> (MKL's sgemv for one row, sgemm blocking for more) does not: its sums change with
/// the row count (measured by <c>Pardec.Benchmarks linear-kernels</c>; bf16 is invariant there, f32 is not).</item>
/// <item><b>Streaming the weight once for all rows.</b> Output rows are taken four at a time and every activation row is
/// multiplied against them while they are in cache, so a k-row step reads W once, as one row does.</item>
/// </list>
/// What libtorch offers was measured first (<c>Pardec.Benchmarks linear-kernels</c>, benchmarks/results/linear-kernels.md):
/// <c>torch.linear</c> and <c>torch.mm</c> on the weight stored transposed (the other layout) reach 19-79 % of one thread's
/// read bandwidth and are not row-count invariant in f32 for any M above 1; MKL's prepacked <c>mkl::_mkl_linear</c> and
/// oneDNN's <c>mkldnn::_linear_pointwise</c> are out of reach (TorchSharp wraps neither, and its TorchScript compiler
/// resolves no <c>torch.ops.*</c> namespace). This kernel reached 1.45-2.2x <c>torch.linear</c>'s speed at M = 1 (82-92 % of
/// the read bandwidth on 1024-8192-wide rows) and 1.3-2.1x at M = 4 and 11 there. CUDA and every other device keep <c>torch.linear</c>: callers dispatch on <see cref="Applies"/>.
/// </summary>
public static class RowInvariantLinear
{
    private const int Block = 4; // output rows per pass: four weight streams, each read once per pass

    /// <summary>True when this kernel can multiply <paramref name="x"/> by <paramref name="weight"/>: both float32,
    /// contiguous, on the CPU; anything else (CUDA, bf16, quantized weights) goes to torch.</summary>
    public static bool Applies(Tensor x, Tensor weight) =>
        x.device_type == DeviceType.CPU && weight.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32 &&
        weight.dtype == ScalarType.Float32 && weight.dim() == 2 && x.size(-1) == weight.size(1) && weight.is_contiguous();

    /// <summary><c>x [..., in]</c> times <c>weight [out, in]</c> plus the optional <c>bias [out]</c>, into a new tensor <c>[..., out]</c>.</summary>
    public static Tensor Forward(Tensor x, Tensor weight, Tensor? bias = null)
    {
        long outFeatures = weight.size(0);
        var shape = x.shape.ToArray();
        shape[^1] = outFeatures;
        var y = torch.empty(shape, ScalarType.Float32, x.device);
        Into(x, weight, bias, y);
        return y;
    }

    /// <summary>Writes <c>x W^T (+ b)</c> into <paramref name="y"/> (contiguous float32, <c>[..., out]</c>).</summary>
    public static unsafe void Into(Tensor x, Tensor weight, Tensor? bias, Tensor y)
    {
        if (!Applies(x, weight)) throw new ArgumentException("RowInvariantLinear takes contiguous float32 CPU tensors with matching widths; dispatch on Applies");
        using var contiguous = x.is_contiguous() ? null : x.contiguous();
        var xs = contiguous ?? x;
        int inFeatures = checked((int)weight.size(1)), outFeatures = checked((int)weight.size(0));
        int rows = checked((int)(xs.numel() / Math.Max(inFeatures, 1)));
        if (y.numel() != (long)rows * outFeatures || !y.is_contiguous() || y.dtype != ScalarType.Float32)
            throw new ArgumentException($"output must be contiguous float32 with {rows} x {outFeatures} elements");
        if (bias is not null && (bias.dtype != ScalarType.Float32 || bias.numel() != outFeatures || !bias.is_contiguous()))
            throw new ArgumentException($"bias must be contiguous float32 [{outFeatures}]");
        // Tensor.bytes spans a contiguous CPU tensor's elements from its data pointer (its storage offset included).
        fixed (byte* px = xs.bytes, pw = weight.bytes, py = y.bytes)
        fixed (byte* pb = bias is null ? default : bias.bytes)
            Multiply((float*)px, (float*)pw, bias is null ? null : (float*)pb, (float*)py, rows, inFeatures, outFeatures);
        GC.KeepAlive(x); GC.KeepAlive(weight); GC.KeepAlive(bias); GC.KeepAlive(y);
    }

    /// <summary>The kernel on raw memory: <c>x [rows, n]</c>, <c>w [outs, n]</c>, <c>b [outs]</c> or null, <c>y [rows, outs]</c>.</summary>
    public static unsafe void Multiply(float* x, float* w, float* b, float* y, int rows, int n, int outs)
    {
        int o = 0;
        for (; o + Block <= outs; o += Block)
        {
            float* w0 = w + (long)o * n;
            int r = 0;
            // Three activation rows against four weight rows: 12 accumulators, 7 loads per 12 FMAs.
            for (; r + 3 <= rows; r += 3) Dot4x3(x + (long)r * n, n, w0, y + (long)r * outs + o, outs);
            for (; r < rows; r++) Dot4x1(x + (long)r * n, w0, n, y + (long)r * outs + o);
        }
        for (; o < outs; o++)
            for (int r = 0; r < rows; r++) y[(long)r * outs + o] = Dot1(x + (long)r * n, w + (long)o * n, n);
        if (b is not null)
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < outs; k++) y[(long)r * outs + k] += b[k];
    }

    // Every path below computes each dot product the same way (Dot1's order): accumulate lane-wise over whole vectors
    // with FusedMultiplyAdd, reduce with Vector*.Sum, then add the tail products one by one. Blocking only decides which
    // dot products share a pass over the weights, never how one is summed: that is the row-count invariance.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float Dot1(float* x, float* w, int n)
    {
        int i = 0;
        float s;
        if (Vector512.IsHardwareAccelerated)
        {
            var a = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16) a = Vector512.FusedMultiplyAdd(Vector512.Load(x + i), Vector512.Load(w + i), a);
            s = Vector512.Sum(a);
        }
        else
        {
            var a = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8) a = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256.Load(w + i), a);
            s = Vector256.Sum(a);
        }
        for (; i < n; i++) s = MathF.FusedMultiplyAdd(x[i], w[i], s);
        return s;
    }

    private static unsafe void Dot4x1(float* x, float* w, int n, float* y)
    {
        float* w1 = w + n, w2 = w1 + n, w3 = w2 + n;
        int i = 0;
        float s0, s1, s2, s3;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 16 <= n; i += 16)
            {
                var xv = Vector512.Load(x + i);
                a0 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(w + i), a0);
                a1 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(w1 + i), a1);
                a2 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(w2 + i), a2);
                a3 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(w3 + i), a3);
            }
            (s0, s1, s2, s3) = (Vector512.Sum(a0), Vector512.Sum(a1), Vector512.Sum(a2), Vector512.Sum(a3));
        }
        else
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 8 <= n; i += 8)
            {
                var xv = Vector256.Load(x + i);
                a0 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(w + i), a0);
                a1 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(w1 + i), a1);
                a2 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(w2 + i), a2);
                a3 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(w3 + i), a3);
            }
            (s0, s1, s2, s3) = (Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3));
        }
        for (; i < n; i++)
        {
            s0 = MathF.FusedMultiplyAdd(x[i], w[i], s0);
            s1 = MathF.FusedMultiplyAdd(x[i], w1[i], s1);
            s2 = MathF.FusedMultiplyAdd(x[i], w2[i], s2);
            s3 = MathF.FusedMultiplyAdd(x[i], w3[i], s3);
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
    }

    private static unsafe void Dot4x3(float* x0, int n, float* w, float* y, int outs)
    {
        float* x1 = x0 + n, x2 = x1 + n;
        float* w1 = w + n, w2 = w1 + n, w3 = w2 + n;
        if (!Vector512.IsHardwareAccelerated)
        {
            // Without 512-bit vectors the 4x3 register block does not fit as well; Dot4x1 per row sums identically.
            Dot4x1(x0, w, n, y); Dot4x1(x1, w, n, y + outs); Dot4x1(x2, w, n, y + 2 * outs);
            return;
        }
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            var v0 = Vector512.Load(w + i);
            var v1 = Vector512.Load(w1 + i);
            var v2 = Vector512.Load(w2 + i);
            var v3 = Vector512.Load(w3 + i);
            var u = Vector512.Load(x0 + i);
            a00 = Vector512.FusedMultiplyAdd(u, v0, a00); a01 = Vector512.FusedMultiplyAdd(u, v1, a01);
            a02 = Vector512.FusedMultiplyAdd(u, v2, a02); a03 = Vector512.FusedMultiplyAdd(u, v3, a03);
            u = Vector512.Load(x1 + i);
            a10 = Vector512.FusedMultiplyAdd(u, v0, a10); a11 = Vector512.FusedMultiplyAdd(u, v1, a11);
            a12 = Vector512.FusedMultiplyAdd(u, v2, a12); a13 = Vector512.FusedMultiplyAdd(u, v3, a13);
            u = Vector512.Load(x2 + i);
            a20 = Vector512.FusedMultiplyAdd(u, v0, a20); a21 = Vector512.FusedMultiplyAdd(u, v1, a21);
            a22 = Vector512.FusedMultiplyAdd(u, v2, a22); a23 = Vector512.FusedMultiplyAdd(u, v3, a23);
        }
        float* y1 = y + outs, y2 = y1 + outs;
        y[0] = Tail(Vector512.Sum(a00), x0, w, i, n); y[1] = Tail(Vector512.Sum(a01), x0, w1, i, n);
        y[2] = Tail(Vector512.Sum(a02), x0, w2, i, n); y[3] = Tail(Vector512.Sum(a03), x0, w3, i, n);
        y1[0] = Tail(Vector512.Sum(a10), x1, w, i, n); y1[1] = Tail(Vector512.Sum(a11), x1, w1, i, n);
        y1[2] = Tail(Vector512.Sum(a12), x1, w2, i, n); y1[3] = Tail(Vector512.Sum(a13), x1, w3, i, n);
        y2[0] = Tail(Vector512.Sum(a20), x2, w, i, n); y2[1] = Tail(Vector512.Sum(a21), x2, w1, i, n);
        y2[2] = Tail(Vector512.Sum(a22), x2, w2, i, n); y2[3] = Tail(Vector512.Sum(a23), x2, w3, i, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float Tail(float s, float* x, float* w, int i, int n)
    {
        for (; i < n; i++) s = MathF.FusedMultiplyAdd(x[i], w[i], s);
        return s;
    }
}

/// <summary>
/// Explicit attention, <c>softmax(q k^T * scale + mask) v</c>, in float32 on the CPU with both products on row-invariant
/// kernels: the scores through <see cref="RowInvariantLinear"/> (a query row against the key rows), the output as a
/// weighted sum of value rows taken in key order. A masked key's weight is exactly 0 and adds exactly 0, so a query's
/// output is the same bits whether later keys of its chain are present (masked) or not — what makes a verified chain
/// equal one-token decoding. torch's f32 batched matmul does not give that (its blocking follows the row count), nor
/// does its f32 softmax (a vectorised sum whose grouping follows the row length: a key sits in the vector body for one
/// length and in the tail for another), so the softmax is here too: scalar exponentials, summed in key order.
/// </summary>
public static class RowInvariantAttention
{
    /// <summary>q float32 on the CPU with an additive float32 mask (the explicit path); anything else goes to torch.</summary>
    public static bool Applies(Tensor q, Tensor k, Tensor mask) =>
        q.device_type == DeviceType.CPU && q.dtype == ScalarType.Float32 && k.dtype == ScalarType.Float32 && mask.dtype == ScalarType.Float32;

    /// <summary><c>q [batch, heads, n, d]</c>, <c>k, v [batch, heads, total, d]</c> (cache views: rows contiguous per head),
    /// <c>mask [batch or 1, 1, n, total]</c> additive; returns <c>[batch, heads, n, d]</c>.</summary>
    public static unsafe Tensor Forward(Tensor q, Tensor k, Tensor v, Tensor mask, Scalar scale)
    {
        long batch = q.shape[0], heads = q.shape[1], n = q.shape[2], d = q.shape[3], total = k.shape[2];
        using var scope = torch.NewDisposeScope();
        var qc = q.contiguous();
        var scores = torch.empty([batch, heads, n, total], ScalarType.Float32, q.device); // [batch, heads, n, total]
        for (long b = 0; b < batch; b++)
            for (long h = 0; h < heads; h++)
            {
                var kh = k.select(0, b).select(0, h);
                RowInvariantLinear.Into(qc.select(0, b).select(0, h), kh.is_contiguous() ? kh : kh.contiguous(), null, scores.select(0, b).select(0, h));
            }
        scores.mul_(scale).add_(mask, Scalars.One);
        var p = scores;                                                                      // [batch, heads, n, total]
        fixed (byte* ps = p.bytes) Softmax((float*)ps, checked((int)(batch * heads * n)), checked((int)total));
        var o = torch.empty([batch, heads, n, d], ScalarType.Float32, q.device);
        for (long b = 0; b < batch; b++)
            for (long h = 0; h < heads; h++)
            {
                var vh = v.select(0, b).select(0, h);
                if (!vh.is_contiguous()) vh = vh.contiguous();
                var ph = p.select(0, b).select(0, h);
                var oh = o.select(0, b).select(0, h);
                fixed (byte* pp = ph.bytes, pv = vh.bytes, po = oh.bytes)
                    WeightedRows((float*)pp, (float*)pv, (float*)po, checked((int)n), checked((int)total), checked((int)d));
            }
        return o.MoveToOuterDisposeScope();
    }

    /// <summary>Row-wise softmax in place over <c>[rows, length]</c>: <c>exp(x - max) / sum</c>, the sum taken in index order,
    /// so trailing masked entries (-inf, exactly 0 after exp) leave every other entry's bits unchanged.</summary>
    public static unsafe void Softmax(float* x, int rows, int length)
    {
        for (int r = 0; r < rows; r++)
        {
            float* row = x + (long)r * length;
            float max = float.NegativeInfinity;
            for (int j = 0; j < length; j++) max = MathF.Max(max, row[j]);
            float sum = 0;
            for (int j = 0; j < length; j++) { float e = MathF.Exp(row[j] - max); row[j] = e; sum += e; }
            for (int j = 0; j < length; j++) row[j] /= sum;
        }
    }

    /// <summary><c>o[r, :] = sum over j, in order, of p[r, j] * v[j, :]</c>: <c>p [rows, total]</c>, <c>v [total, d]</c>, <c>o [rows, d]</c>.</summary>
    public static unsafe void WeightedRows(float* p, float* v, float* o, int rows, int total, int d)
    {
        for (int r = 0; r < rows; r++)
        {
            float* pr = p + (long)r * total, orow = o + (long)r * d;
            int c = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; c + 16 <= d; c += 16)
                {
                    var acc = Vector512<float>.Zero;
                    for (int j = 0; j < total; j++) acc = Vector512.FusedMultiplyAdd(Vector512.Create(pr[j]), Vector512.Load(v + (long)j * d + c), acc);
                    acc.Store(orow + c);
                }
            for (; c + 8 <= d; c += 8)
            {
                var acc = Vector256<float>.Zero;
                for (int j = 0; j < total; j++) acc = Vector256.FusedMultiplyAdd(Vector256.Create(pr[j]), Vector256.Load(v + (long)j * d + c), acc);
                acc.Store(orow + c);
            }
            for (; c < d; c++)
            {
                float s = 0;
                for (int j = 0; j < total; j++) s = MathF.FusedMultiplyAdd(pr[j], v[(long)j * d + c], s);
                orow[c] = s;
            }
        }
    }
}

/// <summary>
/// SwiGLU's <c>silu(g) * u</c> in float32 on the CPU, one row at a time. torch's f32 <c>silu</c> computes an element in
/// its vector loop or its scalar tail depending on where the element falls in the whole tensor (so on the row count),
/// and the two exponentials differ in the last bit; here every row is its own <see cref="TensorPrimitives"/> call, so an
/// element's bits depend on its row alone.
/// </summary>
public static class RowInvariantActivations
{
    public static bool Applies(Tensor g, Tensor u) =>
        g.device_type == DeviceType.CPU && g.dtype == ScalarType.Float32 && u.dtype == ScalarType.Float32 && g.shape.SequenceEqual(u.shape);

    /// <summary><c>g * sigmoid(g) * u</c>, <c>[..., width]</c>.</summary>
    public static unsafe Tensor SiluTimes(Tensor g, Tensor u)
    {
        using var gc = g.is_contiguous() ? null : g.contiguous();
        using var uc = u.is_contiguous() ? null : u.contiguous();
        var gs = gc ?? g;
        var us = uc ?? u;
        var y = torch.empty(g.shape, ScalarType.Float32, g.device);
        int width = checked((int)g.shape[^1]);
        long rows = g.numel() / Math.Max(width, 1);
        fixed (byte* pg = gs.bytes, pu = us.bytes, py = y.bytes)
            for (long r = 0; r < rows; r++)
            {
                var gr = new ReadOnlySpan<float>((float*)pg + r * width, width);
                var ur = new ReadOnlySpan<float>((float*)pu + r * width, width);
                var yr = new Span<float>((float*)py + r * width, width);
                TensorPrimitives.Sigmoid(gr, yr);
                TensorPrimitives.Multiply(yr, gr, yr);
                TensorPrimitives.Multiply(yr, ur, yr);
            }
        GC.KeepAlive(g); GC.KeepAlive(u);
        return y;
    }
}
