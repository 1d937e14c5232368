using Pardec.Runtime.Loading;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>
/// LLaDA ("Large Language Diffusion Models", Nie et al. 2025; GSAI-ML/LLaDA-8B-Base and -Instruct, HF class
/// <c>LLaDAModelLM</c>) as published: its own config names (<see cref="ModelConfig"/> reads <c>model_type: llada</c>) and
/// its OLMo-style tensor names, <c>model.transformer.wte</c>, <c>model.transformer.blocks.N.{attn_norm, q_proj, k_proj,
/// v_proj, attn_out, ff_norm, ff_proj, up_proj, ff_out}</c>, <c>model.transformer.ln_f</c> and the untied head
/// <c>model.transformer.ff_out</c>.
/// </summary>
/// <remarks>
/// LLaDA's block (<c>LLaDALlamaBlock</c> in its modeling_llada.py) is the Llama block: RMSNorm, q/k/v without bias, RoPE
/// in the rotate-half convention, <c>ff_out(silu(ff_proj(x)) * up_proj(x))</c>. What makes it a denoiser is only how it is
/// called: every position attends to every other (the masked canvas passes an all-true mask) and the logits at position
/// i predict the token at i (<see cref="ModelConfig.ShiftedLogits"/> false). So this class is the Llama module under
/// LLaDA's names: weights load by renaming, and the forward — eager and compiled, f32 and bf16 — is
/// <see cref="LlamaForCausalLM"/>'s. llama.cpp does the same (<c>LLM_ARCH_LLADA</c> maps the names onto its Llama tensors).
/// </remarks>
public sealed class LLaDAModelLM : ICausalLM
{
    /// <param name="config">A config with <c>model_type</c> <c>llada</c>.</param>
    public LLaDAModelLM(ModelConfig config, Device device, ScalarType dtype)
    {
        if (config.ModelType != "llada")
            throw new ArgumentException($"model_type '{config.ModelType}' is not LLaDA", nameof(config));
        Inner = new LlamaForCausalLM(config, device, dtype);
    }

    /// <summary>The Llama module that computes the forward (parameter names are Llama's; see <see cref="CheckpointName"/>).</summary>
    public LlamaForCausalLM Inner { get; }

    public ModelConfig Config => Inner.Config;
    public Device Device => Inner.Device;
    public ScalarType DType => Inner.DType;

    public KVCache CreateCache(int batch, int maxLength) => Inner.CreateCache(batch, maxLength);

    public ModelOutput Forward(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache,
                               bool returnHidden = false, LayerSkip? skip = null) =>
        Inner.Forward(tokens, positions, attentionMask, cache, returnHidden, skip);

    public ModelOutput ForwardInto(Tensor tokens, Tensor positions, Tensor attentionMask, KVCache? cache, ForwardOutputs into,
                                   bool returnHidden = false, LayerSkip? skip = null) =>
        Inner.ForwardInto(tokens, positions, attentionMask, cache, into, returnHidden, skip);

    public Tensor? OutputWeight => Inner.OutputWeight;

    public Tensor LogitsFromHidden(Tensor hidden) => Inner.LogitsFromHidden(hidden);

    /// <summary>The name LLaDA's safetensors give the Llama parameter <paramref name="llamaName"/>.</summary>
    public static string CheckpointName(string llamaName)
    {
        const string layers = "model.layers.";
        if (llamaName == "model.embed_tokens.weight") return "model.transformer.wte.weight";
        if (llamaName == "model.norm.weight") return "model.transformer.ln_f.weight";
        if (llamaName == "lm_head.weight") return "model.transformer.ff_out.weight";
        if (!llamaName.StartsWith(layers, StringComparison.Ordinal))
            throw new ArgumentException($"'{llamaName}' has no LLaDA name", nameof(llamaName));
        int dot = llamaName.IndexOf('.', layers.Length);
        string index = llamaName[layers.Length..dot], rest = llamaName[(dot + 1)..];
        string mapped = rest switch
        {
            "input_layernorm.weight" => "attn_norm.weight",
            "self_attn.q_proj.weight" => "q_proj.weight",
            "self_attn.k_proj.weight" => "k_proj.weight",
            "self_attn.v_proj.weight" => "v_proj.weight",
            "self_attn.o_proj.weight" => "attn_out.weight",
            "post_attention_layernorm.weight" => "ff_norm.weight",
            "mlp.gate_proj.weight" => "ff_proj.weight",
            "mlp.up_proj.weight" => "up_proj.weight",
            "mlp.down_proj.weight" => "ff_out.weight",
            _ => throw new ArgumentException($"'{llamaName}' has no LLaDA name", nameof(llamaName)),
        };
        return $"model.transformer.blocks.{index}.{mapped}";
    }

    /// <summary>
    /// Loads a LLaDA checkpoint directory (config.json + model.safetensors or shards), weights converted to
    /// <paramref name="dtype"/>. Every problem is a <see cref="ModelLoadException"/> naming the file and the tensor.
    /// </summary>
    public static LLaDAModelLM Load(string directory, Device device, ScalarType dtype = ScalarType.Float32)
    {
        var config = ModelConfig.Load(Path.Combine(directory, "config.json"));
        if (config.ModelType != "llada")
            throw new ModelLoadException(Path.Combine(directory, "config.json"), "model_type", $"expected 'llada', got '{config.ModelType}'");
        var weights = CheckpointWeights.Open(directory);
        var model = new LLaDAModelLM(config, device, dtype);
        try
        {
            model.LoadWeights(weights);
            model.Inner.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    // The loader's own checks and copy (names, shapes, dtypes, unexpected tensors), over LLaDA's names.
    private void LoadWeights(CheckpointWeights file) =>
        PretrainedModel.LoadWeights(Inner, new RenamedWeights(file, Inner.named_parameters().Select(p => p.name), CheckpointName));

    public void Dispose() => Inner.Dispose();
}
