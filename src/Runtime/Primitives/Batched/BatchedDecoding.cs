using Pardec.Runtime.Decoding;

namespace Pardec.Runtime.Primitives.Batched;

/// <summary>The edges every batched loop shares: filling the batch from the caller's prompts, and per-row results.</summary>
public static class BatchedDecoding
{
    /// <summary>The prompts padded to the session's batch with copies of the first (their results are dropped).</summary>
    public static IReadOnlyList<int[]> Fill(IReadOnlyList<int[]> prompts, int batch)
    {
        if (prompts.Count == 0) throw new ArgumentException("Give at least one prompt.", nameof(prompts));
        if (prompts.Count > batch) throw new ArgumentException($"This decoder was built for batches of {batch}; got {prompts.Count} prompts.", nameof(prompts));
        if (prompts.Count == batch) return prompts;
        var filled = new int[batch][];
        for (int i = 0; i < batch; i++) filled[i] = i < prompts.Count ? prompts[i] : prompts[0];
        return filled;
    }

    /// <summary>Per-row results for the first <paramref name="count"/> rows; the end-of-sequence token is excluded.</summary>
    public static IReadOnlyList<DecodeResult> Results(BatchedCausalSession session, int count, int draftForwards, TimeSpan elapsed, bool cancelled)
    {
        var results = new DecodeResult[count];
        for (int row = 0; row < count; row++)
        {
            var text = session.Context.Text(row);
            var reason = cancelled ? StopReason.Cancelled : text.StopReason ?? StopReason.MaxNewTokens;
            results[row] = session.Core.Result(text, draftForwards, ended: reason, decodeTime: elapsed);
        }
        return results;
    }
}
