using static TorchSharp.torch;

namespace Pardec.Runtime.Loading;

/// <summary>
/// Named tensors a model's weights are read from: a safetensors checkpoint (<see cref="CheckpointWeights"/>) or a GGUF
/// file seen as one (<see cref="GgufWeights"/>). <see cref="Entries"/> gives every tensor's dtype and shape before any is
/// read, so a loader checks the whole checkpoint against the config first; <see cref="Read"/> makes a new CPU tensor.
/// </summary>
public interface IWeightSource
{
    /// <summary>The file that names the weights, for messages.</summary>
    string Description { get; }
    IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    /// <summary>The file holding <paramref name="name"/> (named in errors).</summary>
    string PathOf(string name);
    Tensor Read(string name);
}
