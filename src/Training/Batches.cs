using static TorchSharp.torch;

namespace Pardec.Training;

/// <summary>
/// Training windows and the fixed tensors every forward needs. A step's windows depend only on (seed, step), so a
/// resumed run sees exactly the batches the uninterrupted run would have seen.
/// </summary>
public static class Batches
{
    /// <summary><c>[batch, length]</c> int64: random windows from the token stream, seeded by (seed, step).</summary>
    public static Tensor Sample(int[] stream, int batch, int length, int seed, long step)
    {
        if (stream.Length <= length)
            throw new TrainingException($"the corpus has only {stream.Length} tokens, fewer than one window of {length}");
        // System.Random with an explicit seed uses its legacy, version-stable algorithm: reproducible across runs.
        var rng = new Random(unchecked(seed * 1_000_003 + (int)step * 7919));
        var data = new long[batch * length];
        for (int b = 0; b < batch; b++)
        {
            int start = rng.Next(0, stream.Length - length + 1);
            for (int i = 0; i < length; i++) data[b * length + i] = stream[start + i];
        }
        return tensor(data, [batch, length], ScalarType.Int64);
    }

    /// <summary>Consecutive non-overlapping windows of the first <paramref name="maxTokens"/> tokens (validation).</summary>
    public static IEnumerable<int[]> Windows(int[] stream, int length, int maxTokens)
    {
        int limit = Math.Min(stream.Length, maxTokens);
        for (int start = 0; start + 2 <= limit; start += length)
        {
            int n = Math.Min(length, limit - start);
            if (n < 2) yield break;
            yield return stream.AsSpan(start, n).ToArray();
        }
    }

    /// <summary><c>[batch, n]</c> positions 0..n-1.</summary>
    public static Tensor Positions(long batch, long n) => arange(n, ScalarType.Int64).unsqueeze(0).expand(batch, n).contiguous();

    /// <summary><c>[1, 1, n, n]</c> bool lower-triangular: token i attends to 0..i (broadcast over the batch).</summary>
    public static Tensor CausalMask(long n) => ones(n, n, ScalarType.Bool).tril().view(1, 1, n, n);

    /// <summary><c>[1, n]</c> bool, false at position 0 only (a shifted denoiser has no row that predicts it).</summary>
    public static Tensor AllButFirst(long n) => arange(n, ScalarType.Int64).gt(0).view(1, n);

    /// <summary><c>[1, 1, n, n]</c> all true: the masked-diffusion LM sees the whole sequence.</summary>
    public static Tensor FullMask(long n) => ones(1, 1, n, n, ScalarType.Bool);
}
