using Pardec.Runtime.Models;
using System.Runtime.InteropServices;
using Pardec.Runtime.Primitives;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Masked;

/// <summary>
/// Trace credits (CreditDecoding, Wang et al. 2025, arXiv 2510.06133): per block position and token, a credit that
/// decays and accumulates the model's history, <c>C_t(i, v) = β·C_{t−1}(i, v) + 1[v = x̂_t(i)]·p_t(i, v)^γ</c> for masked
/// positions <c>i</c> (x̂ the step's prediction), fused with the current logits before the commit decision as
/// <c>log p̃(i, ·) = log p(i, ·) + α·log(1 + C(i, ·))</c>. Credits live on the device, <c>[maxBlock, vocab]</c>, and are
/// cleared when a new block starts. The defaults are illustrative, not the paper's tuned values.
/// </summary>
public sealed class CreditState : IDisposable
{
    private readonly Tensor _credits;     // [maxBlock, vocab] float32, device
    private readonly StagedTensor _index; // [maxBlock] int64: row * vocab + token
    private readonly StagedTensor _value; // [maxBlock] float32: p^γ
    private readonly Tensor _statsHost;   // [1, 3, maxBlock] float64, CPU
    private readonly double[] _confidence, _margin;
    private readonly long[] _tokens;
    private readonly int _vocab;
    private int _block = -1;

    public CreditState(MaskedSession session, double decay = 0.9, double gamma = 1.0, double alpha = 1.0)
    {
        if (decay is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(decay));
        Decay = decay; Gamma = gamma; Alpha = alpha;
        int rows = session.MaxBlockSize;
        _vocab = session.Model.Config.VocabSize;
        var device = session.Model.Device;
        using (no_grad())
        {
            _credits = zeros(rows, _vocab, ScalarType.Float32, device).DetachFromDisposeScope();
            _index = new StagedTensor([rows], ScalarType.Int64, device);
            _value = new StagedTensor([rows], ScalarType.Float32, device);
            _statsHost = zeros(1, 3, rows, ScalarType.Float64).DetachFromDisposeScope();
        }
        _confidence = new double[rows];
        _margin = new double[rows];
        _tokens = new long[rows];
    }

    public double Decay { get; }
    public double Gamma { get; }
    public double Alpha { get; }

    /// <summary>The credits of the current block, <c>[maxBlock, vocab]</c> (rows past the block are zero).</summary>
    public Tensor Credits => _credits;

    /// <summary>
    /// The current block's predictions after fusing the raw block logits with the credits accumulated so far (one
    /// more host copy). Tokens are the fused argmax (or a seeded sample of the fused distribution).
    /// </summary>
    public MaskedBlock Fuse(MaskedSession session)
    {
        Sync(session);
        int b = session.BlockLength;
        using (no_grad())
        using (NewDisposeScope())
        {
            var logits = session.BlockLogits; // [b, vocab]
            if (logits.shape[0] != b) throw new InvalidOperationException("Credits need the block's raw logits from Predict.");
            using Scalar alpha = Alpha; // reachable through the op (see Scalars)
            var fused = logits.to_type(ScalarType.Float64).log_softmax(-1)
                        .add(_credits.narrow(0, 0, b).to_type(ScalarType.Float64).log1p(), alpha); // log p + alpha log(1 + credit): [b, vocab]
            session.Score(fused.unsqueeze(0), _statsHost);
            if (session.Constraint is not null) ConstrainFused(session, fused);
        }
        if (session.Constraint is not null)
            return new MaskedBlock(session.BlockStart, _confidence.AsSpan(0, b), _tokens.AsSpan(0, b), _margin.AsSpan(0, b), session.Block.Masked);
        int width = (int)_statsHost.shape[2];
        var stats = MemoryMarshal.Cast<byte, double>(_statsHost.bytes);
        for (int i = 0; i < b; i++)
        {
            _confidence[i] = stats[i];
            _tokens[i] = (long)stats[width + i];
            _margin[i] = stats[2 * width + i];
        }
        return new MaskedBlock(session.BlockStart, _confidence.AsSpan(0, b), _tokens.AsSpan(0, b), _margin.AsSpan(0, b),
                               session.Block.Masked);
    }

    /// <summary>
    /// Decays every credit of the block and adds <c>p^γ</c> to each still-masked position's predicted token, from this
    /// step's raw predictions (<see cref="MaskedSession.Block"/>). Call after <see cref="MaskedSession.Commit"/>.
    /// </summary>
    public void Update(MaskedSession session)
    {
        Sync(session);
        var block = session.Block;
        var index = _index.Span<long>();
        var value = _value.Span<float>();
        int n = 0;
        for (int i = 0; i < block.Length; i++)
        {
            if (!block.Masked[i]) continue;
            index[n] = i * (long)_vocab + block.Tokens[i];
            value[n] = (float)Math.Pow(block.Confidence[i], Gamma);
            n++;
        }
        using (no_grad())
        using (NewDisposeScope())
        {
            using (Scalar decay = Decay) _credits.narrow(0, 0, block.Length).mul_(decay); // reachable through the op (see Scalars)
            if (n == 0) return;
            _index.Upload(n);
            _value.Upload(n);
            _credits.view(-1).scatter_add_(0, _index.Device.narrow(0, 0, n), _value.Device.narrow(0, 0, n));
        }
    }

    // Under a constraint the fused scores go through DINGO like the model's own predictions.
    private void ConstrainFused(MaskedSession session, Tensor fused /* [b, vocab] float64 */)
    {
        int b = (int)fused.shape[0];
        _fusedHost ??= zeros(_credits.shape, ScalarType.Float32).DetachFromDisposeScope();
        _fusedHost.narrow(0, 0, b).copy_(fused);
        var rows = MemoryMarshal.Cast<byte, float>(_fusedHost.bytes);
        session.ConstrainPredictions(rows, _vocab, _tokens.AsSpan(0, b), _confidence.AsSpan(0, b), _margin.AsSpan(0, b));
    }
    private Tensor? _fusedHost; // [maxBlock, vocab] float32 CPU

    // A new block (or a new decode) starts with no credit.
    private void Sync(MaskedSession session)
    {
        if (session.BlockIndex == _block && session.DecodeCount == _decode) return;
        using (no_grad())
        using (NewDisposeScope()) _credits.zero_();
        _block = session.BlockIndex;
        _decode = session.DecodeCount;
    }
    private int _decode = -1;

    public void Dispose()
    {
        _credits.Dispose(); _statsHost.Dispose(); _fusedHost?.Dispose();
        _index.Dispose(); _value.Dispose();
    }
}
