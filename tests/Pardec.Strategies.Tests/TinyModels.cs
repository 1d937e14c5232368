using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>Seeded random Llama models small enough for many decodes per test, on the CPU with one thread.</summary>
internal static class TinyModels
{
    static TinyModels() => torch.set_num_threads(1);

    public static ModelConfig Config(int layers = 2, int hidden = 64, int vocab = 97, int heads = 4, int kvHeads = 2) => new()
    {
        ModelType = "llama",
        VocabSize = vocab,
        HiddenSize = hidden,
        IntermediateSize = hidden * 2,
        NumHiddenLayers = layers,
        NumAttentionHeads = heads,
        NumKeyValueHeads = kvHeads,
        HeadDim = hidden / heads,
        MaxPositionEmbeddings = 512,
        EosTokenIds = [vocab - 1],
        BosTokenId = 0,
    };

    /// <summary>A large init std makes the random model's argmax decisive and its text repetitive, like a real LM's.</summary>
    public static CausalLMBase Create(long seed, int layers = 2, double std = 0.2, int vocab = 97)
    {
        var model = CausalLM.CreateRandom(Config(layers, vocab: vocab), CPU, ScalarType.Float32, seed, std);
        model.eval();
        return model;
    }
}
