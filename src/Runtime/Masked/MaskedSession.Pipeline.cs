namespace Pardec.Runtime.Masked;

/// <summary>
/// Pipelined blocks (D2F): a rule may commit positions after the current block in the same step, before the current
/// block is finished. They are chosen in <see cref="Ahead"/> (offsets counted from <see cref="BlockEnd"/>) and written by
/// <see cref="Commit"/> with the block's own selection; the block order is unchanged (the current block is still the
/// first with a masked position, and the caches still refresh when it completes).
/// </summary>
public sealed partial class MaskedSession
{
    private MaskedSelection? _ahead;

    /// <summary>The positions after the current block this step commits, as offsets from <see cref="BlockEnd"/>; null until
    /// <see cref="UseAhead"/>. Emptied by every commit.</summary>
    public MaskedSelection? Ahead => _ahead;

    /// <summary>Lets rules commit up to <paramref name="blocks"/> default-size blocks after the current one (once, at construction of the rule).</summary>
    public MaskedSelection UseAhead(int blocks)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blocks);
        int capacity = blocks * MaxBlockSize;
        if (_ahead is null || _ahead.Capacity < capacity) _ahead = new MaskedSelection(capacity);
        return _ahead;
    }

    // Writes the ahead selection (masked positions only) and empties it; returns how many it committed.
    private int CommitAhead(Span<long> canvas, ref int firstEos)
    {
        if (_ahead is null || _ahead.Count == 0) return 0;
        int committed = 0;
        var offsets = _ahead.Offsets;
        var tokens = _ahead.Tokens;
        for (int i = 0; i < offsets.Length; i++)
        {
            int p = BlockEnd + offsets[i];
            if (offsets[i] < 0 || p >= End)
                throw new InvalidOperationException($"ahead offset {offsets[i]} is outside the canvas after the block [{BlockEnd}, {End}).");
            if (!_masked[p]) continue;
            canvas[p] = tokens[i];
            _masked[p] = false;
            committed++;
            if (_eos.Contains(tokens[i]) && p < firstEos) firstEos = p;
        }
        _ahead.Clear();
        return committed;
    }
}
