using Pardec.Runtime.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>Builds the model class a <see cref="ModelConfig"/> describes.</summary>
public static class CausalLM
{
    /// <summary>An uninitialised model (weights as the TorchSharp modules initialise them) on <paramref name="device"/>.</summary>
    /// <param name="quantization">Weight-only int8/int4 linears (Llama family only); null or none: all in <paramref name="dtype"/>.</param>
    public static CausalLMBase Create(ModelConfig config, Device device, ScalarType dtype, WeightQuantization? quantization = null) => config.Architecture switch
    {
        ModelArchitecture.Gpt2 when quantization is { IsNone: false } =>
            throw new NotSupportedException($"{quantization.Name} weights are implemented for the Llama family; model_type '{config.ModelType}' runs in f32 or bf16"),
        ModelArchitecture.Gpt2 => new Gpt2LMHeadModel(config, device, dtype),
        _ => new LlamaForCausalLM(config, device, dtype, quantization),
    };

    /// <summary>A model with seeded random weights (see <see cref="CausalLMBase.InitializeWeights"/>).</summary>
    public static CausalLMBase CreateRandom(ModelConfig config, Device device, ScalarType dtype, long seed, double std = 0.02)
    {
        var model = Create(config, device, dtype);
        model.InitializeWeights(seed, std);
        return model;
    }
}
