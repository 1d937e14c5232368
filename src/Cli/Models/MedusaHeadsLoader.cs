using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Cli.Models;

/// <summary>
/// Loads Medusa heads from a directory in the Medusa repository's layout (<c>medusa_config.json</c> +
/// <c>medusa_heads.safetensors</c>). The runtime has the module and the key mapping but no loader yet; this one
/// checks every tensor's name and shape against the config and the target before copying.
/// </summary>
public static class MedusaHeadsLoader
{
    public static MedusaHeads Load(string directory, ICausalLM target)
    {
        if (!Directory.Exists(directory)) throw new ModelLoadException(directory, null, "Medusa heads directory not found");
        string configPath = Path.Combine(directory, MedusaHeads.ConfigFile);
        string weightsPath = Path.Combine(directory, MedusaHeads.WeightsFile);
        if (!File.Exists(configPath)) throw new ModelLoadException(configPath, null, "file not found");
        MedusaHeads.Config config;
        try { config = MedusaHeads.Config.Read(configPath); }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException)
        {
            throw new ModelLoadException(configPath, null, e.Message, e);
        }
        if (config.HiddenSize != target.Config.HiddenSize)
            throw new ModelLoadException(configPath, "hidden_size", $"{config.HiddenSize} disagrees with the target's hidden_size {target.Config.HiddenSize}");
        if (config.VocabSize != target.Config.VocabSize)
            throw new ModelLoadException(configPath, "vocab_size", $"{config.VocabSize} disagrees with the target's vocab_size {target.Config.VocabSize}");

        var file = SafetensorsFile.Open(weightsPath);
        var heads = new MedusaHeads(config.Heads, config.HiddenSize, config.VocabSize, config.SharedLmHead);
        try
        {
            var parameters = heads.named_parameters().ToList();
            foreach (var (name, p) in parameters)
            {
                string key = MedusaHeads.ToMedusaKey(name);
                if (!file.Entries.TryGetValue(key, out var entry)) throw new ModelLoadException(weightsPath, key, "missing weight");
                if (!p.shape.SequenceEqual(entry.Shape))
                    throw new ModelLoadException(weightsPath, key,
                        $"shape [{string.Join(", ", entry.Shape)}] disagrees with the config, which needs [{string.Join(", ", p.shape)}]");
            }
            heads.to(target.DType).to(target.Device);
            using (torch.no_grad())
                foreach (var (name, p) in heads.named_parameters())
                {
                    using var scope = torch.NewDisposeScope();
                    p.copy_(file.Read(MedusaHeads.ToMedusaKey(name)));
                }
            heads.eval();
            return heads;
        }
        catch
        {
            heads.Dispose();
            throw;
        }
    }

    /// <summary>Writes heads in the layout <see cref="Load"/> reads (tests, and tools that train heads).</summary>
    public static void Save(MedusaHeads heads, int hiddenSize, int vocabSize, string directory)
    {
        Directory.CreateDirectory(directory);
        new MedusaHeads.Config(heads.Count, hiddenSize, vocabSize, heads.SharedLmHead).Write(Path.Combine(directory, MedusaHeads.ConfigFile));
        using var scope = torch.NewDisposeScope();
        SafetensorsFile.Write(Path.Combine(directory, MedusaHeads.WeightsFile),
            heads.named_parameters().Select(np => new KeyValuePair<string, Tensor>(MedusaHeads.ToMedusaKey(np.name), np.parameter.detach().to_type(ScalarType.Float32))));
    }
}
