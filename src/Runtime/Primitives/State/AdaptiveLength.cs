namespace Pardec.Runtime.Primitives.State;

/// <summary>
/// An adaptive draft length ("Parallel Speculative Decoding with Adaptive Draft Length"; the heuristic of Hugging Face's
/// assisted generation): after a step whose whole draft was accepted the next draft grows by two, after a rejection it
/// shrinks by one, within [min, max]. Long drafts where the draft is reliable, short ones where it is not.
/// </summary>
public sealed class AdaptiveLength : ILengthState
{
    private readonly int _initial;

    public AdaptiveLength(int min, int max, int initial)
    {
        if (min < 1 || max < min) throw new ArgumentOutOfRangeException(nameof(min), $"Need 1 <= min <= max; got {min}..{max}.");
        Min = min;
        Max = max;
        _initial = Math.Clamp(initial, min, max);
        Current = _initial;
    }

    public int Min { get; }
    public int Max { get; }
    public int Current { get; private set; }

    public void Reset() => Current = _initial;

    /// <param name="proposed">Draft tokens proposed this step.</param>
    /// <param name="accepted">Draft tokens accepted this step.</param>
    public void Update(int proposed, int accepted) =>
        Current = Math.Clamp(accepted >= proposed ? Current + 2 : Current - 1, Min, Max);
}
