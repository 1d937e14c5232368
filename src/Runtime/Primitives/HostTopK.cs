using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Pardec.Runtime.Primitives;

/// <summary>
/// Top-k selection on the host, for decode loops that read CPU logits in place instead of running <c>topk</c>: a
/// small descending list the candidates are offered to one by one (k is a handful, the common candidate is rejected
/// by one comparison). Equal scores keep the earlier candidate, as a stable top-k would.
/// </summary>
public static class HostTopK
{
    /// <summary>
    /// Offers (<paramref name="id"/>, <paramref name="score"/>) to the best-so-far list held in the first
    /// <paramref name="count"/> slots of <paramref name="ids"/>/<paramref name="scores"/> (capacity = their length).
    /// </summary>
    public static void Offer(Span<long> ids, Span<float> scores, ref int count, long id, float score)
    {
        int k = ids.Length;
        if (count == k && !(score > scores[k - 1])) return;
        int at = count < k ? count++ : k - 1;
        while (at > 0 && score > scores[at - 1]) { scores[at] = scores[at - 1]; ids[at] = ids[at - 1]; at--; }
        scores[at] = score;
        ids[at] = id;
    }

    /// <summary>
    /// The best <c>ids.Length</c> entries of <paramref name="values"/> (index and value + <paramref name="shift"/>), in
    /// descending order; returns how many were found (fewer only when values is shorter than k).
    /// </summary>
    public static int Select(ReadOnlySpan<float> values, Span<long> ids, Span<float> scores, float shift = 0f)
    {
        int count = 0;
        OfferRange(values, 0, shift, ids, scores, ref count);
        return count;
    }

    /// <summary>
    /// Offers every (<paramref name="firstId"/> + v, <paramref name="values"/>[v] + <paramref name="shift"/>) in order,
    /// exactly as <see cref="Offer"/> one by one would. Once the list is full, eight candidates at a time are summed
    /// and compared with the current k-th score in one vector step (the same float additions and comparison as the
    /// scalar path), and only a block with a candidate that beats it is offered lane by lane: over a vocabulary almost
    /// every block is rejected at once.
    /// </summary>
    public static void OfferRange(ReadOnlySpan<float> values, long firstId, float shift, Span<long> ids, Span<float> scores, ref int count)
    {
        int k = ids.Length;
        if (k == 0) return;
        int v = 0;
        // Fill the list (and fill it from the front) one by one.
        for (; v < values.Length && count < k; v++) Offer(ids, scores, ref count, firstId + v, values[v] + shift);
        if (Vector256.IsHardwareAccelerated)
        {
            int width = Vector256<float>.Count;
            var shifts = Vector256.Create(shift);
            ref float start = ref MemoryMarshal.GetReference(values);
            for (; v + width <= values.Length; v += width)
            {
                var sums = Vector256.LoadUnsafe(ref start, (nuint)v) + shifts;
                if (!Vector256.GreaterThanAny(sums, Vector256.Create(scores[k - 1]))) continue;
                for (int lane = 0; lane < width; lane++) Offer(ids, scores, ref count, firstId + v + lane, values[v + lane] + shift);
            }
        }
        for (; v < values.Length; v++) Offer(ids, scores, ref count, firstId + v, values[v] + shift);
    }
}
