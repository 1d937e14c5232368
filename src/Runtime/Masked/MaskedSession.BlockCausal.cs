using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Masked;

/// <summary>
/// The masked canvas over a block-causal denoiser (Fast-dLLM v2, "Fast-dLLM v2: Efficient Block-Diffusion LLM", Wu et al.
/// 2025; <see cref="ModelConfig.DenoiserBlock"/>): the model attends causally across its blocks of <c>Bm</c> positions,
/// counted from position 0, and bidirectionally inside one.
/// </summary>
/// <remarks>
/// <para><b>Blocks.</b> The canvas's blocks are aligned the same way, to multiples of the canvas block from position 0
/// (Fast-dLLM v2 pads the prompt's last block with masks, <c>block_size - prompt_length % block_size</c>, and decodes its
/// sub-blocks at fixed offsets inside a block): the first block after a prompt may be shorter.</para>
/// <para><b>What a step forwards.</b> Nothing after the model block holding the canvas block's last position can reach
/// the block's rows, so every step forwards at most up to that model block's end <c>fe</c>. With no cache it forwards
/// <c>[0, fe)</c> under the block-causal mask — recomputing everything, the reference. With <see cref="MaskedCacheMode.Prefix"/>
/// the cache holds exactly the finished model blocks' keys and values: <c>[0, r)</c>, where <c>r</c> is the start of the
/// model block holding the canvas block's first position (one row earlier for a shifted model, whose first prediction
/// reads the row before). A step forwards <c>[cached, fe)</c> over it and truncates back to <c>r</c>. Every cached position
/// lies in a model block whose every position is committed, and under the block-causal mask its keys and values depend
/// on nothing after that block, so they are the values a whole recomputation would produce: the cache is exact (equal
/// logits up to floating-point summation order), which <c>cache prefix</c>'s guarantee on a <c>block_causal</c> denoiser
/// rests on. It is Fast-dLLM v2's block-level cache (<c>past_key_values</c>, updated once a block is complete); its
/// sub-block cache (<c>use_block_cache</c>, the current block's keys reused across sub-block steps) is approximate and is
/// not this.</para>
/// <para>A dual cache is refused: its suffix is what a block-causal denoiser never attends.</para>
/// </remarks>
public sealed partial class MaskedSession
{
    private readonly Tensor? _blockCausalMask; // [maxLength, maxLength] bool, device: [q, k] = k / Bm <= q / Bm

    /// <summary>The model's block when it is a block-causal denoiser (<see cref="ModelConfig.DenoiserBlock"/>), else null.</summary>
    public int? DenoiserBlock { get; }

    /// <summary>The end of the canvas block that starts at <paramref name="start"/>.</summary>
    private int NextBlockEnd(int start) => DenoiserBlock is null
        ? Math.Min(start + DefaultBlockSize, End)
        : Math.Min(End, (start / DefaultBlockSize + 1) * DefaultBlockSize); // aligned to the model's positions

    private Tensor BlockCausalMask(int block, MaskedCacheMode cache)
    {
        if (cache == MaskedCacheMode.Dual)
            throw new NotSupportedException($"A dual cache keeps the suffix after the block, which a block-causal denoiser (block {block}) never attends; its prefix cache is exact: use cache prefix.");
        using var scope = NewDisposeScope();
        var blockOf = arange(0, MaxLength, ScalarType.Int64, _model.Device).div_(block, rounding_mode: RoundingMode.floor);
        return blockOf.unsqueeze(1).ge(blockOf.unsqueeze(0)).MoveToOuterDisposeScope(); // query block >= key block
    }

    /// <summary>
    /// The block-causal attention mask of a forward of canvas positions <c>[from, to)</c> whose keys are positions
    /// <c>[0, to)</c> (the cache holds <c>[0, from)</c>): <c>[1, 1, to − from, to]</c> bool, a view.
    /// </summary>
    internal Tensor BlockCausalAttention(int from, int to) =>
        _blockCausalMask!.narrow(0, from, to - from).narrow(1, 0, to).unsqueeze(0).unsqueeze(0);

    // One step's forward on a block-causal denoiser; the logits rows predict canvas positions [s, fe).
    private (ModelOutput Output, Tensor Logits, int SpanEnd) ForwardBlockCausal(int s, int e)
    {
        int bm = DenoiserBlock!.Value;
        int c = s / bm * bm;                                  // the model block holding the canvas block's first position
        int r = Math.Min(c, s - Shift);                       // everything before r is finished
        int fe = Math.Min(End, ((e - 1) / bm + 1) * bm);      // the end of the model block holding its last position
        int cached = _cache?.Length ?? 0;                     // [0, cached) are finished positions; cached <= r
        var tokens = _canvas.Device.narrow(1, cached, fe - cached);
        var positions = _positions.narrow(1, cached, fe - cached);
        Forwards++;
        _core.CountForward();
        var output = _model.Forward(tokens, positions, BlockCausalAttention(cached, fe), _cache);
        var logits = output.Logits.narrow(1, s - Shift - cached, fe - s);
        _cache?.Truncate(r);                                  // keep the finished blocks only
        _needsRefresh = false;
        _stepsSinceRefresh = 0;
        return (output, logits, fe);
    }
}
