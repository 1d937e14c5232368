using Pardec.Runtime.Masked;
using Pardec.Runtime.Masked.Commit;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Masked.Tests;

/// <summary>Seeded random Llama weights run bidirectionally, with a mask token (LLaDA layout), on one CPU thread.</summary>
internal static class TinyMaskedModels
{
    public const int Vocab = 97;
    public const int Eos = 96;
    public const int Mask = 95;

    static TinyMaskedModels() => torch.set_num_threads(1);

    public static ModelConfig Config(int layers = 2, int hidden = 64) => new()
    {
        ModelType = "llama",
        VocabSize = Vocab,
        HiddenSize = hidden,
        IntermediateSize = hidden * 2,
        NumHiddenLayers = layers,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        HeadDim = hidden / 4,
        MaxPositionEmbeddings = 512,
        EosTokenIds = [Eos],
        BosTokenId = 0,
        MaskTokenId = Mask,
    };

    public static CausalLMBase Create(long seed, double std = 0.2, int layers = 2)
    {
        var model = CausalLM.CreateRandom(Config(layers), CPU, ScalarType.Float32, seed, std);
        model.eval();
        return model;
    }
}

/// <summary>The loop a generated masked decoder writes, with the rule chosen by a delegate (tests only).</summary>
internal static class MaskedLoop
{
    public delegate void Rule(MaskedSession session);

    public static Rule Of(OneCommit r) => s => r.Select(s.Block, s.Selection);
    public static Rule Of(TopKCommit r) => s => r.Select(s.Block, s.Selection);
    public static Rule Of(ConfidenceCommit r) => s => r.Select(s.Block, s.Selection);
    public static Rule Of(FactorCommit r) => s => r.Select(s.Block, s.Selection);
    public static Rule Of(MarginCommit r) => s => r.Select(s.Block, s.Selection);

    public static int[] Run(MaskedSession session, int[] prompt, int length, Rule rule, Action<MaskedSession>? afterCommit = null,
                            SamplingSettings? sampling = null)
    {
        using var _ = no_grad();
        session.Start(prompt, length, sampling ?? SamplingSettings.Greedy);
        while (!session.Done)
        {
            session.BeginStep();
            if (!session.HasPredictions) session.Predict();
            session.Selection.Clear();
            rule(session);
            session.Commit();
            afterCommit?.Invoke(session);
        }
        return session.Generated.ToArray();
    }

    public static int[] Run(ICausalLM model, int[] prompt, int length, int block, Rule rule,
                            MaskedCacheMode cache = MaskedCacheMode.None, int refreshEvery = 0)
    {
        using var session = new MaskedSession(model, 128, block, cache, refreshEvery: refreshEvery);
        return Run(session, prompt, length, rule);
    }
}
