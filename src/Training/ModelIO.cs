using System.Text.Json;
using System.Text.Json.Nodes;
using Pardec.Runtime.Models;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Pardec.Training;

/// <summary>Writes (and, for checkpoints, reads) the Hugging Face layout the runtime loads.</summary>
public static class ModelIO
{
    /// <summary>
    /// config.json (HF names via <see cref="ModelConfig.ToJson"/>, plus <c>torch_dtype: bfloat16</c> and the pad id),
    /// model.safetensors in bf16, and a copy of the tokenizer. bf16 halves the shipped size and is the CPU's fast
    /// dtype; training ran in f32, so this is the only rounding.
    /// </summary>
    public static void SaveHf(CausalLMBase model, string dir, string tokenizerPath, int? padId)
    {
        Directory.CreateDirectory(dir);
        var config = JsonNode.Parse(model.Config.ToJson())!.AsObject();
        config["torch_dtype"] = "bfloat16";
        if (padId is int pad) config["pad_token_id"] = pad;
        File.WriteAllText(Path.Combine(dir, "config.json"),
                          config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        SaveSafetensors(StateDictForSave(model), Path.Combine(dir, "model.safetensors"), ScalarType.BFloat16);
        File.Copy(tokenizerPath, Path.Combine(dir, "tokenizer.model"), overwrite: true);
    }

    /// <summary>
    /// The parameters under their HF names. A tied LM head is the embedding itself, so it is written once (HF does the
    /// same: tie_word_embeddings=true checkpoints carry no lm_head.weight).
    /// </summary>
    public static Dictionary<string, Tensor> StateDictForSave(CausalLMBase model)
    {
        var dict = new Dictionary<string, Tensor>();
        foreach (var (name, p) in model.named_parameters())
        {
            if (model.Config.TieWordEmbeddings && name == "lm_head.weight") continue;
            dict[name] = p;
        }
        return dict;
    }

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
    /// Loads an HF directory written by <see cref="SaveHf"/> into a model of the requested dtype (f32 to keep
    /// training or to evaluate exactly; the shipped bf16 weights convert losslessly to f32).
    /// </summary>
    public static CausalLMBase LoadHf(string dir, ScalarType dtype)
    {
        var configPath = Path.Combine(dir, "config.json");
        if (!File.Exists(configPath)) throw new TrainingException($"{configPath}: model config not found");
        var config = ModelConfig.Load(configPath);
        var model = CausalLM.Create(config, CPU, dtype);
        LoadInto(model.named_parameters(), Path.Combine(dir, "model.safetensors"),
                 name => config.TieWordEmbeddings && name == "lm_head.weight");
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
