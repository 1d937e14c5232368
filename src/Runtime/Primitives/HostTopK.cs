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
        for (int v = 0; v < values.Length; v++) Offer(ids, scores, ref count, v, values[v] + shift);
        return count;
    }
}
