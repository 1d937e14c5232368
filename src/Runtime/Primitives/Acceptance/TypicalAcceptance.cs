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
    private readonly double _epsilonValue, _deltaValue;
    private readonly HostRows _rows = new();
    private readonly float[] _threshold;
    private readonly float[] _probOfToken;
    private readonly int[] _pathBuffer;

    public TypicalAcceptance(double epsilon, double delta, int capacity)
    {
        _epsilonValue = epsilon;
        _deltaValue = delta;
        _threshold = new float[capacity];
        _probOfToken = new float[capacity];
        _pathBuffer = new int[capacity];
    }

    public void Dispose() => _rows.Dispose();

    // The thresholds and probabilities over host rows (in place on the CPU, one copy elsewhere): per row, p = softmax(l)
    // through its maximum m and normaliser Z, H(p) = log Z + m - Σ exp(l - m)·l / Z, and a node's probability
    // exp(l_token - m) / Z of its parent's row. No tensor op.
    private void Thresholds(CandidateTree tree, Tensor logits)
    {
        int n = tree.Count, vocab = (int)logits.size(1);
        var rows = _rows.Read(logits);
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
        Thresholds(tree, logits);
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
