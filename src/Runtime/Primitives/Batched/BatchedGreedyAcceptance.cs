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
    private readonly long[] _picks;              // [batch, width]: the target's argmax at every chain position
    private readonly HostRows _rows = new();     // where the logits are read (in place on the CPU)

    public BatchedGreedyAcceptance(int batch, int draftLength) => _picks = new long[batch * (draftLength + 1)];

    public void Accept(BatchedChain chain, Tensor logits /* [batch, width, vocab] */, BatchedStepOutcome outcome)
    {
        int width = chain.Width;
        var picks = _picks.AsSpan();
        _rows.ArgmaxAll(logits, picks); // in place on the CPU (no op, no handle); elsewhere the step's one host sync
        for (int b = 0; b < chain.Batch; b++)
        {
            int a = 0;
            while (a + 1 < width && chain[b, a + 1] == picks[b * width + a]) a++;
            outcome.Set(b, a, (int)picks[b * width + a]);
        }
    }

    public void Dispose() => _rows.Dispose();
}
