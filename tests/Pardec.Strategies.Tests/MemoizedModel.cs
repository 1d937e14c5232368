using System.Runtime.InteropServices;
using System.Text;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>
/// A test double that answers every forward of a wrapped model from a memo, so a sampling test can run the real decode
/// primitives tens of thousands of times without paying for tens of thousands of transformer forwards.
/// Its cache stores each slot's (token, position) instead of keys and values — Truncate and Compact move those exactly
/// as they move K/V — and the logits of a query row are the wrapped model's logits for the sequence of (token, position)
/// pairs that row attends to, computed once by a plain causal forward of the wrapped model and then remembered.
/// That equals the wrapped model's cached forward whenever the attended slots of every row form a chain whose own
/// attended sets are its prefixes: causal, chain and tree masks — everything a causal strategy sends. Batch 1, CPU.
/// </summary>
internal sealed class MemoizedModel(ICausalLM inner) : ICausalLM
{
    private readonly Dictionary<string, float[]> _memo = new();
    private readonly StringBuilder _key = new();
    private readonly List<long> _seqTokens = new(), _seqPositions = new();

    public ModelConfig Config => inner.Config;
    public Device Device => CPU;
    public ScalarType DType => ScalarType.Float32;
    public int Misses { get; private set; }

    public Tensor LogitsFromHidden(Tensor hidden) => throw new NotSupportedException("logits only: no hidden states are memoized");

    public KVCache CreateCache(int batch, int maxLength) => new(1, batch, 1, maxLength, 2, CPU, ScalarType.Float32);

    public ModelOutput Forward(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, bool returnHidden = false, LayerSkip? skip = null)
    {
        if (tokens.shape[0] != 1) throw new NotSupportedException("batch 1 only");
        if (returnHidden || skip is not null) throw new NotSupportedException("logits only, no layer skip");
        int n = (int)tokens.shape[1];
        int prefix = cache?.Length ?? 0;
        var tok = tokens.cpu().contiguous().data<long>().ToArray();
        var pos = positions.cpu().contiguous().data<long>().ToArray();
        if (attentionMask.shape[3] > prefix + n) attentionMask = attentionMask.narrow(3, 0, prefix + n); // the contract: wider masks are cut
        var mask = attentionMask.cpu().contiguous().data<bool>().ToArray(); // [n, prefix + n]
        float[] slots = prefix > 0 ? cache!.Keys(0)[0, 0].narrow(0, 0, prefix).contiguous().data<float>().ToArray() : []; // [prefix, 2]
        int vocab = Config.VocabSize;
        var logits = new float[n * vocab];
        for (int i = 0; i < n; i++)
        {
            _key.Clear(); _seqTokens.Clear(); _seqPositions.Clear();
            for (int j = 0; j < prefix + n; j++)
            {
                if (!mask[i * (prefix + n) + j]) continue;
                long t = j < prefix ? (long)slots[2 * j] : tok[j - prefix];
                long p = j < prefix ? (long)slots[2 * j + 1] : pos[j - prefix];
                _seqTokens.Add(t); _seqPositions.Add(p);
                _key.Append(t).Append('@').Append(p).Append(',');
            }
            var key = _key.ToString();
            if (!_memo.TryGetValue(key, out var row))
            {
                Misses++;
                row = Compute();
                _memo[key] = row;
            }
            row.CopyTo(logits, i * vocab);
        }
        if (cache is not null)
        {
            var kv = new float[n * 2];
            for (int i = 0; i < n; i++) { kv[2 * i] = tok[i]; kv[2 * i + 1] = pos[i]; }
            using var k = tensor(kv).view(1, 1, n, 2);
            cache.Append(0, k, k);
            cache.Advance(n);
        }
        return new ModelOutput(tensor(logits).view(1, n, vocab), null);
    }

    private float[] Compute()
    {
        using var scope = NewDisposeScope();
        int m = _seqTokens.Count;
        var t = tensor(_seqTokens.ToArray()).view(1, m).to(inner.Device);
        var p = tensor(_seqPositions.ToArray()).view(1, m).to(inner.Device);
        var mask = ones(m, m, ScalarType.Bool, inner.Device).tril().view(1, 1, m, m);
        using var output = inner.Forward(t, p, mask, null);
        return output.Logits[0, m - 1].cpu().data<float>().ToArray();
    }

    public void Dispose() { }
}
