using System.Text.Json;
using System.Text.Json.Nodes;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Pardec.Training;

/// <summary>Writes (and, for checkpoints, reads) the Hugging Face layout the runtime loads.</summary>
public static class ModelIO
{
    /// <summary>
    /// The runtime's HF writer (config.json + model.safetensors) in bf16, then two additions to config.json
    /// (<c>torch_dtype: bfloat16</c>, which the runtime writes as float32, and <c>pad_token_id</c>) and a copy of the
    /// tokenizer. bf16 halves the shipped size and is the CPU's fast dtype; training ran in f32, so this is the only
    /// rounding.
    /// </summary>
    public static void SaveHf(CausalLMBase model, string dir, string tokenizerPath, int? padId)
    {
        PretrainedModel.Save(model, dir, ScalarType.BFloat16);
        var configPath = Path.Combine(dir, PretrainedModel.ConfigFileName);
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["torch_dtype"] = "bfloat16";
        if (padId is int pad) config["pad_token_id"] = pad;
        File.WriteAllText(configPath, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        File.Copy(tokenizerPath, Path.Combine(dir, "tokenizer.model"), overwrite: true);
    }

    /// <summary>The parameters under their HF names (a tied LM head is the embedding and is not a separate parameter).</summary>
    public static Dictionary<string, Tensor> StateDictForSave(CausalLMBase model) =>
        model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);

    public static void SaveSafetensors(IReadOnlyDictionary<string, Tensor> tensors, string path, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var converted = tensors.ToDictionary(kv => kv.Key, kv => kv.Value.detach().to_type(dtype).contiguous());
        // Write then rename: a checkpoint interrupted mid-write must not replace the previous good one.
        Safetensors.SaveStateDict(path + ".tmp", converted);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>Copies a safetensors file into named parameters (same names, shapes checked), converting the dtype.</summary>
    public static void LoadInto(IEnumerable<(string name, TorchSharp.Modules.Parameter parameter)> parameters, string path, Func<string, bool>? optional = null)
    {
        if (!File.Exists(path)) throw new TrainingException($"{path}: file not found");
        var loaded = Safetensors.LoadStateDict(path);
        try
        {
            using var _ = no_grad();
            foreach (var (name, p) in parameters)
            {
                if (!loaded.TryGetValue(name, out var t))
                {
                    if (optional?.Invoke(name) == true) continue;
                    throw new TrainingException($"{path}: tensor '{name}' is missing");
                }
                if (!t.shape.SequenceEqual(p.shape))
                    throw new TrainingException($"{path}: tensor '{name}' has shape [{string.Join(", ", t.shape)}], expected [{string.Join(", ", p.shape)}]");
                p.copy_(t.to_type(p.dtype));
            }
        }
        finally
        {
            foreach (var t in loaded.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Loads an HF directory with the runtime's loader (names, shapes and dtypes validated) in the requested dtype:
    /// f32 to keep training or to evaluate exactly; the shipped bf16 weights convert losslessly to f32.
    /// </summary>
    public static CausalLMBase LoadHf(string dir, ScalarType dtype)
    {
        var model = PretrainedModel.LoadModel(dir, CPU, dtype);
        model.eval();
        return model;
    }

    /// <summary>The LM head matrix <c>[vocab, hidden]</c> (the embedding when tied), detached: Medusa heads share it frozen.</summary>
    public static Tensor LmHeadWeight(CausalLMBase model)
    {
        var named = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        var key = model.Config.TieWordEmbeddings || !named.ContainsKey("lm_head.weight") ? "model.embed_tokens.weight" : "lm_head.weight";
        return named[key].detach();
    }

    public static long ParameterCount(nn.Module module) => module.parameters().Sum(p => p.numel());
}
