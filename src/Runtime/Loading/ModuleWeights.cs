using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Loading;

/// <summary>A loaded model's own parameters seen as a checkpoint, so a float model can be quantized in memory
/// (<see cref="PretrainedModel.Quantize"/>) through the same path as quantize-on-load.</summary>
internal sealed class ModuleWeights : IWeightSource
{
    private readonly Dictionary<string, Tensor> _tensors;

    public ModuleWeights(CausalLMBase model)
    {
        _tensors = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
        Entries = _tensors.ToDictionary(kv => kv.Key,
            kv => new SafetensorsEntry(kv.Key, kv.Value.dtype, kv.Value.shape, 0, kv.Value.NumberOfElements * kv.Value.ElementSize), StringComparer.Ordinal);
    }

    public string Description => "the model in memory";
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    public string PathOf(string name) => Description;
    public Tensor Read(string name) => _tensors[name].detach().cpu().clone();
}
