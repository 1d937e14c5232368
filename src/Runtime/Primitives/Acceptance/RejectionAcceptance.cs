using Pardec.Runtime.Models;
using System.Runtime.InteropServices;
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
    private readonly float[] _uniform;
    private readonly float[] _targetProb;
    private readonly Tensor _draftTokensHost; // [capacity] int64, staging for the drafted tokens

    public RejectionAcceptance(int capacity)
    {
        _uniform = new float[capacity];
        _targetProb = new float[capacity];
        _draftTokensHost = zeros(capacity, ScalarType.Int64);
    }

    /// <param name="draftDistributions"><c>[capacity, vocab]</c>: row i is the q the draft sampled node i from (null when nothing is drafted).</param>
    public void Accept(CandidateTree tree, Tensor logits /* [n, vocab] */, Tensor? draftDistributions,
                       NodeSampler sampler, StepOutcome outcome)
    {
        if (!tree.IsChain) throw new InvalidOperationException("Rejection sampling verifies a chain; the proposal is a tree.");
        var generator = sampler.Generator ?? throw new InvalidOperationException("Rejection sampling needs a temperature above 0.");
        outcome.Clear();
        int n = tree.Count;
        int drafted = n - 1;
        if (sampler.SamplesOnHost(logits) && (drafted == 0 || draftDistributions is { } d && d.device_type == DeviceType.CPU
                                              && d.dtype == ScalarType.Float32 && d.is_contiguous()))
        {
            AcceptOnHost(tree, logits, draftDistributions, sampler, outcome);
            return;
        }
        using var scope = NewDisposeScope();
        var p = sampler.Probabilities(logits); // [n, vocab]

        if (drafted > 0)
        {
            // p_i(x_i) for every drafted token: row i-1 of p predicts node i. One gather, one host copy.
            var staged = MemoryMarshal.Cast<byte, long>(_draftTokensHost.bytes);
            for (int i = 1; i < n; i++) staged[i - 1] = tree.Token(i);
            var draftTokens = _draftTokensHost.narrow(0, 0, drafted).to(p.device).view(drafted, 1);
            var pOfDraft = p.narrow(0, 0, drafted).gather(1, draftTokens).view(-1).to(ScalarType.Float32).cpu();
            MemoryMarshal.Cast<byte, float>(pOfDraft.contiguous().bytes).CopyTo(_targetProb);
            var r = rand(new long[] { drafted }, generator: generator, dtype: ScalarType.Float32).cpu();
            MemoryMarshal.Cast<byte, float>(r.bytes).CopyTo(_uniform);
        }

        var q = tree.DraftProbabilities;
        for (int i = 1; i <= drafted; i++)
        {
            float ratio = q[i] > 0 ? _targetProb[i - 1] / q[i] : 0f;
            if (_uniform[i - 1] < Math.Min(1f, ratio)) { outcome.Accept(i, tree.Token(i)); continue; }
            // Rejected at node i: resample from the residual max(0, p − q) at its parent (node i − 1).
            var q_i = draftDistributions?[i] ?? throw new InvalidOperationException("Drafted tokens need the distributions they were sampled from.");
            var residual = (p[i - 1] - q_i.to(p.dtype)).clamp_min(Scalars.Zero); // a rooted Scalar: see Scalars
            var mass = residual.sum();
            // If p ≤ q everywhere (only possible through rounding), p itself is the right fallback.
            var dist = mass.item<float>() > 0 ? residual / mass : p[i - 1];
            outcome.NextToken = (int)multinomial(dist, 1, generator: generator).item<long>();
            return;
        }
        outcome.NextToken = (int)multinomial(p[drafted], 1, generator: generator).item<long>();
    }

    // The same rule on the host, for CPU logits: p's rows are computed only where they are needed, the uniforms come
    // from the sampler's seeded host stream, and the residual is formed in place. No tensor op.
    private void AcceptOnHost(CandidateTree tree, Tensor logits, Tensor? draftDistributions, NodeSampler sampler, StepOutcome outcome)
    {
        int drafted = tree.Count - 1;
        int vocab = (int)logits.size(1);
        var rows = MemoryMarshal.Cast<byte, float>(logits.bytes);
        var q = tree.DraftProbabilities;
        for (int i = 1; i <= drafted; i++)
        {
            var p = sampler.RowProbabilities(rows.Slice((i - 1) * vocab, vocab)); // row i-1 predicts node i
            float ratio = q[i] > 0 ? p[tree.Token(i)] / q[i] : 0f;
            if (sampler.NextUniform() < Math.Min(1f, ratio)) { outcome.Accept(i, tree.Token(i)); continue; }
            // Rejected at node i: resample from the residual max(0, p − q_i), or from p if rounding left no mass.
            var qi = MemoryMarshal.Cast<byte, float>(draftDistributions!.bytes).Slice(i * vocab, vocab);
            if (_residual.Length < vocab) _residual = new float[vocab];
            var residual = _residual.AsSpan(0, vocab);
            float mass = 0f;
            for (int v = 0; v < vocab; v++) { residual[v] = MathF.Max(0f, p[v] - qi[v]); mass += residual[v]; }
            outcome.NextToken = NodeSampler.Draw(mass > 0 ? residual : p, sampler.NextUniform());
            return;
        }
        outcome.NextToken = NodeSampler.Draw(sampler.RowProbabilities(rows.Slice(drafted * vocab, vocab)), sampler.NextUniform());
    }

    private float[] _residual = [];

    public void Dispose() => _draftTokensHost.Dispose();
}
