using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Decoding;

/// <summary>
/// A preallocated bool mask buffer <c>[batch, 1, maxNew, maxLength]</c> (true = attend) and the fills strategies
/// need: offset-causal (a chain of <c>n</c> new tokens on a cache of length <c>L</c>), tree (each node sees the
/// cache, its ancestors and itself — SpecInfer, Miao et al. 2023; Medusa, Cai et al. 2024) and bidirectional
/// (masked diffusion LMs). Each fill writes in place and returns a view <c>[batch, 1, n, L + n]</c> that belongs to
/// the caller's dispose scope; no tensor is allocated per call apart from view handles.
/// </summary>
public sealed class AttentionMaskBuffer : IDisposable
{
    private readonly Tensor _buffer;   // [batch, 1, maxNew, maxLength] bool
    private readonly Tensor _tril;     // [maxNew, maxNew] bool, lower triangle incl. diagonal
    private readonly Primitives.StagedTensor _tree; // [maxNew * maxNew] bool, tree masks written on the host (flat)
    private readonly Scalar _true = true;

    public AttentionMaskBuffer(int batch, int maxNew, int maxLength, Device device)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxNew);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, maxNew);
        Batch = batch; MaxNew = maxNew; MaxLength = maxLength;
        _buffer = torch.zeros([batch, 1, maxNew, maxLength], ScalarType.Bool, device).DetachFromDisposeScope();
        _tril = torch.ones(maxNew, maxNew, ScalarType.Bool, device).tril_().DetachFromDisposeScope();
        _tree = new Primitives.StagedTensor([maxNew * maxNew], ScalarType.Bool, device);
    }

    public int Batch { get; }
    public int MaxNew { get; }
    public int MaxLength { get; }

    /// <summary>New token <c>i</c> attends to the whole cache and to new tokens <c>0..i</c>.</summary>
    public Tensor Causal(int cacheLength, int n)
    {
        var view = View(cacheLength, n);
        if (cacheLength > 0) view.narrow(3, 0, cacheLength).fill_(_true);
        view.narrow(3, cacheLength, n).copy_(_tril.narrow(0, 0, n).narrow(1, 0, n));
        return view;
    }

    /// <summary>Every new token attends to everything (a masked-diffusion block).</summary>
    public Tensor Bidirectional(int cacheLength, int n) => View(cacheLength, n).fill_(_true);

    /// <summary>
    /// A token tree: <paramref name="parents"/>[i] is the index of node i's parent among the new tokens, or -1 for a
    /// root (attached to the last cached token). Parents must precede children.
    /// </summary>
    public Tensor Tree(int cacheLength, ReadOnlySpan<int> parents)
    {
        int n = parents.Length;
        var view = View(cacheLength, n);
        if (cacheLength > 0) view.narrow(3, 0, cacheLength).fill_(_true);
        FillTreeMask(parents, _tree.Span<bool>());
        _tree.Upload(n * n);
        var tree = _tree.Device.narrow(0, 0, n * n).view(n, n);
        view.narrow(3, cacheLength, n).copy_(tree);
        return view;
    }

    /// <summary>Ancestor-or-self matrix of a tree, row-major <c>[n, n]</c>: mask[i * n + j] = j is i or an ancestor of i.</summary>
    public static void FillTreeMask(ReadOnlySpan<int> parents, Span<bool> mask)
    {
        int n = parents.Length;
        if (mask.Length < n * n) throw new ArgumentException($"mask needs {n * n} entries", nameof(mask));
        mask[..(n * n)].Clear();
        for (int i = 0; i < n; i++)
        {
            int p = parents[i];
            if (p >= i || p < -1) throw new ArgumentException($"parents[{i}] = {p}: a parent must precede its child (or be -1)", nameof(parents));
            if (p >= 0) mask.Slice(p * n, n).CopyTo(mask.Slice(i * n, n)); // inherit the parent's ancestors
            mask[i * n + i] = true;
        }
    }

    /// <summary>Depth of every node (roots are 0); the position of node i is <c>cacheLength + depth[i]</c>.</summary>
    public static void TreeDepths(ReadOnlySpan<int> parents, Span<int> depths)
    {
        for (int i = 0; i < parents.Length; i++)
        {
            int p = parents[i];
            if (p >= i || p < -1) throw new ArgumentException($"parents[{i}] = {p}: a parent must precede its child (or be -1)", nameof(parents));
            depths[i] = p < 0 ? 0 : depths[p] + 1;
        }
    }

    private Tensor View(int cacheLength, int n)
    {
        if (n <= 0 || n > MaxNew) throw new ArgumentOutOfRangeException(nameof(n), n, $"must be in [1, {MaxNew}]");
        if (cacheLength < 0 || cacheLength + n > MaxLength)
            throw new ArgumentOutOfRangeException(nameof(cacheLength), cacheLength, $"cacheLength + n must be at most {MaxLength}");
        return _buffer.narrow(2, 0, n).narrow(3, 0, cacheLength + n);
    }

    public void Dispose()
    {
        _buffer.Dispose(); _tril.Dispose();
        _tree.Dispose(); _true.Dispose();
    }
}
