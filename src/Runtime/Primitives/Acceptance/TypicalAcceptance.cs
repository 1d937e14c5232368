using System.Runtime.InteropServices;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives.Acceptance;

/// <summary>
/// Medusa's typical acceptance (Cai et al. 2024): a candidate is accepted when the target gives it probability above
/// min(ε, δ·exp(−H(p))) — plausible under the target, with a bar that drops when the target is unsure. Lossy: the
/// output is not the target's greedy text. Among the tree's accepted paths the longest wins; the next token is the
/// target's own pick after it.
/// </summary>
public sealed class TypicalAcceptance : IAcceptanceRule
{
    private readonly Scalar _epsilon, _delta; // fields, not temporaries: see Scalars
    private readonly double _epsilonValue, _deltaValue;
    private readonly Scalar _tiny = 1e-20;
    private readonly float[] _threshold;
    private readonly float[] _probOfToken;
    private readonly int[] _pathBuffer;
    private readonly Tensor _indexHost; // [2, capacity] int64: parents, tokens

    public TypicalAcceptance(double epsilon, double delta, int capacity)
    {
        _epsilon = epsilon;
        _delta = delta;
        _epsilonValue = epsilon;
        _deltaValue = delta;
        _threshold = new float[capacity];
        _probOfToken = new float[capacity];
        _pathBuffer = new int[capacity];
        _indexHost = zeros(2, capacity, ScalarType.Int64);
    }

    public void Dispose() { _indexHost.Dispose(); _epsilon.Dispose(); _delta.Dispose(); _tiny.Dispose(); }

    private void ThresholdsOnDevice(CandidateTree tree, Tensor logits)
    {
        int n = tree.Count;
        using (var scope = NewDisposeScope())
        {
            var p = logits.softmax(-1);                                           // [n, vocab]
            var entropy = -(p * p.clamp_min(_tiny).log()).sum(-1);                // [n]
            var threshold = (entropy.neg().exp() * _delta).clamp_max(_epsilon).to(ScalarType.Float32).cpu();
            MemoryMarshal.Cast<byte, float>(threshold.contiguous().bytes).CopyTo(_threshold);
            if (n > 1)
            {
                // Probability each node's token has under its parent's distribution.
                var staged = MemoryMarshal.Cast<byte, long>(_indexHost.bytes);
                int capacity = _threshold.Length;
                for (int i = 1; i < n; i++) { staged[i - 1] = tree.Parent(i); staged[capacity + i - 1] = tree.Token(i); }
                var index = _indexHost.narrow(1, 0, n - 1).to(p.device);
                var parents = index[0];
                var tokens = index[1].view(-1, 1);
                var probs = p.index_select(0, parents).gather(1, tokens).view(-1).to(ScalarType.Float32).cpu();
                MemoryMarshal.Cast<byte, float>(probs.contiguous().bytes).CopyTo(_probOfToken.AsSpan(1));
            }
        }
    }

    // The same thresholds and probabilities from CPU logits read in place: per row, p = softmax(l) through its maximum m
    // and normaliser Z, H(p) = log Z + m - Σ exp(l - m)·l / Z, and a node's probability exp(l_token - m) / Z of its
    // parent's row. No tensor op.
    private void ThresholdsOnHost(CandidateTree tree, Tensor logits)
    {
        int n = tree.Count, vocab = (int)logits.size(1);
        var rows = MemoryMarshal.Cast<byte, float>(logits.bytes);
        if (_exp.Length < vocab) _exp = new float[vocab];
        if (_max.Length < n) { _max = new float[_threshold.Length]; _normaliser = new float[_threshold.Length]; }
        var exp = _exp.AsSpan(0, vocab);
        for (int r = 0; r < n; r++)
        {
            var row = rows.Slice(r * vocab, vocab);
            float max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, exp);
            TensorPrimitives.Exp(exp, exp);
            float z = TensorPrimitives.Sum(exp);
            double entropy = Math.Log(z) + max - TensorPrimitives.Dot(exp, row) / (double)z;
            _threshold[r] = (float)Math.Min(_epsilonValue, _deltaValue * Math.Exp(-entropy));
            _max[r] = max;
            _normaliser[r] = z;
        }
        for (int i = 1; i < n; i++)
        {
            int parent = tree.Parent(i);
            _probOfToken[i] = MathF.Exp(rows[parent * vocab + tree.Token(i)] - _max[parent]) / _normaliser[parent];
        }
    }

    private float[] _exp = [], _max = [], _normaliser = [];

    /// <summary>The rule as every acceptance rule is called; typical acceptance reads the target alone, not q.</summary>
    public void Accept(CandidateTree tree, Tensor logits /* [n, vocab] */, Tensor? draftDistributions, NodeSampler sampler, StepOutcome outcome) =>
        Accept(tree, logits, sampler, outcome);

    public void Accept(CandidateTree tree, Tensor logits /* [n, vocab] */, NodeSampler sampler, StepOutcome outcome)
    {
        outcome.Clear();
        int n = tree.Count;
        if (logits.device_type == DeviceType.CPU && logits.dtype == ScalarType.Float32 && logits.is_contiguous())
            ThresholdsOnHost(tree, logits);
        else ThresholdsOnDevice(tree, logits);
        // Longest path of accepted nodes; ties go to the earlier (more likely) candidate.
        int best = 0, bestDepth = 0;
        for (int i = 1; i < n; i++)
        {
            int parent = tree.Parent(i);
            bool ok = _probOfToken[i] > _threshold[parent] && (parent == 0 || _pathBuffer[parent] == 1);
            _pathBuffer[i] = ok ? 1 : 0;
            if (ok && tree.Depth(i) > bestDepth) { best = i; bestDepth = tree.Depth(i); }
        }
        for (int node = best, d = bestDepth; d > 0; node = tree.Parent(node), d--) _pathBuffer[d - 1] = node;
        for (int d = 0; d < bestDepth; d++) outcome.Accept(_pathBuffer[d], tree.Token(_pathBuffer[d]));
        var picks = sampler.Pick(logits);
        outcome.NextToken = (int)picks[outcome.LastNode];
    }
}
