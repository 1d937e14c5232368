using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives.Acceptance;

/// <summary>
/// Speculative sampling's modified rejection rule (Leviathan et al. 2023; Chen et al. 2023), on a chain drafted by
/// sampling from q. For drafted token x_i with target probability p_i(x_i) and draft probability q_i(x_i):
/// accept with probability min(1, p_i(x_i) / q_i(x_i)). At the first rejection, draw the next token from
/// normalise(max(0, p_i − q_i)) — exactly the mass the draft under-proposed — so the committed token is distributed
/// as p_i. If every draft token survives, draw a bonus token from p at the last node. The output distribution equals
/// sampling from the target alone.
/// </summary>
public sealed class RejectionAcceptance : IAcceptanceRule
{

    private readonly HostRows _targetRows = new(), _draftRows = new();
    private float[] _residual = [];

    /// <param name="capacity">The most nodes a verified chain has (kept for the engines' uniform construction).</param>
    public RejectionAcceptance(int capacity) => ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);

    /// <param name="draftDistributions"><c>[capacity, vocab]</c>: row i is the q the draft sampled node i from (null when nothing is drafted).</param>
    /// <remarks>
    /// One algorithm on every device, over host rows (<see cref="HostRows"/>: in place on the CPU, one copy elsewhere):
    /// p's rows are computed only where they are needed, the uniforms come from the sampler's seeded host stream, and
    /// the residual is formed in place.
    /// </remarks>
    public void Accept(CandidateTree tree, Tensor logits /* [n, vocab] */, Tensor? draftDistributions,
                       NodeSampler sampler, StepOutcome outcome)
    {
        if (!tree.IsChain) throw new InvalidOperationException("Rejection sampling verifies a chain; the proposal is a tree.");
        if (sampler.IsGreedy) throw new InvalidOperationException("Rejection sampling needs a temperature above 0.");
        outcome.Clear();
        int drafted = tree.Count - 1;
        int vocab = (int)logits.size(1);
        var rows = _targetRows.Read(logits);
        var q = tree.DraftProbabilities;
        for (int i = 1; i <= drafted; i++)
        {
            var p = sampler.RowProbabilities(rows.Slice((i - 1) * vocab, vocab)); // row i-1 predicts node i
            float ratio = q[i] > 0 ? p[tree.Token(i)] / q[i] : 0f;
            if (sampler.NextUniform() < Math.Min(1f, ratio)) { outcome.Accept(i, tree.Token(i)); continue; }
            // Rejected at node i: resample from the residual max(0, p − q_i), or from p if rounding left no mass.
            var draft = draftDistributions ?? throw new InvalidOperationException("Drafted tokens need the distributions they were sampled from.");
            var qi = _draftRows.Read(draft).Slice(i * vocab, vocab);
            if (_residual.Length < vocab) _residual = new float[vocab];
            var residual = _residual.AsSpan(0, vocab);
            float mass = 0f;
            for (int v = 0; v < vocab; v++) { residual[v] = MathF.Max(0f, p[v] - qi[v]); mass += residual[v]; }
            outcome.NextToken = NodeSampler.Draw(mass > 0 ? residual : p, sampler.NextUniform());
            return;
        }
        outcome.NextToken = sampler.Sample(rows.Slice(drafted * vocab, vocab));
    }

    public void Dispose()
    {
        _targetRows.Dispose();
        _draftRows.Dispose();
    }
}
