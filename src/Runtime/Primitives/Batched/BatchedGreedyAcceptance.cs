using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives.Batched;

/// <summary>
/// Exact verification of a chain per row (Leviathan et al. 2023, greedy case; vLLM's <c>rejection_greedy_sample</c>):
/// row b accepts the longest prefix of its drafts where each draft equals the target's argmax at the position before
/// it, and the argmax after that prefix is its next token. Rows accept different lengths; nothing couples them.
/// </summary>
public sealed class BatchedGreedyAcceptance : IDisposable
{
    private readonly Tensor _picksHost; // [batch, width] int64 on the CPU

    public BatchedGreedyAcceptance(int batch, int draftLength) => _picksHost = zeros(batch, draftLength + 1, ScalarType.Int64);

    public void Accept(BatchedChain chain, Tensor logits /* [batch, width, vocab] */, BatchedStepOutcome outcome)
    {
        int width = chain.Width;
        var picks = MemoryMarshal.Cast<byte, long>(_picksHost.bytes);
        if (HostLogits.Readable(logits))
        {
            // On the CPU: the argmax of each row read in place (no op, no handle).
            var rows = HostLogits.Of(logits);
            for (int b = 0; b < chain.Batch; b++)
                for (int j = 0; j < width; j++) picks[b * width + j] = NodeSampler.IndexOfMax(rows.Row(b, j));
        }
        else
            using (NewDisposeScope()) _picksHost.copy_(logits.argmax(-1)); // [batch, width]: the step's one host sync
        for (int b = 0; b < chain.Batch; b++)
        {
            int a = 0;
            while (a + 1 < width && chain[b, a + 1] == picks[b * width + a]) a++;
            outcome.Set(b, a, (int)picks[b * width + a]);
        }
    }

    public void Dispose() => _picksHost.Dispose();
}
