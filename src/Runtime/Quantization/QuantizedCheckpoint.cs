using System.Text.Json;
using System.Text.Json.Nodes;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Quantization;

/// <summary>
/// The saved quantized checkpoint (docs/quantization.md): an ordinary Hugging Face directory whose quantized linears
/// store, under their module name <c>M</c>,
/// <list type="bullet">
/// <item>int8: <c>M.weight</c> I8 <c>[out, in]</c> and <c>M.weight_scale</c> F32 <c>[out]</c>; <c>w = weight * scale</c>;</item>
/// <item>int4: <c>M.weight</c> U8 <c>[out, in / 2]</c> (column 2j in the low nibble, 2j + 1 in the high), <c>M.weight_scale</c> and
/// <c>M.weight_zero</c> F32 <c>[out, in / group]</c>; <c>w = (q - 8) * scale + zero</c>.</item>
/// </list>
/// The format of each linear is read from its stored dtype (so mixed files, as GGUF conversions make, load as they are);
/// <c>config.json</c> records a <c>quantization_config</c> (<c>quant_method: "pardec"</c>) for people and other tools.
/// </summary>
public static class QuantizedCheckpoint
{
    public const string ScaleSuffix = ".weight_scale";
    public const string ZeroSuffix = ".weight_zero";

    /// <summary>The formats a checkpoint stores (null: every linear is floating point).</summary>
    public static WeightQuantization? StoredFormats(IWeightSource source)
    {
        var perModule = new Dictionary<string, LinearFormat>(StringComparer.Ordinal);
        foreach (var (key, entry) in source.Entries)
        {
            if (!key.EndsWith(".weight", StringComparison.Ordinal) || entry.DType is not (ScalarType.Int8 or ScalarType.Byte)) continue;
            string module = key[..^".weight".Length];
            if (!source.Entries.TryGetValue(module + ScaleSuffix, out var scale) || scale.Shape.Length == 0)
                throw new ModelLoadException(source.PathOf(key), key, $"an {(entry.DType == ScalarType.Int8 ? "int8" : "int4")} weight needs {module}{ScaleSuffix}");
            if (entry.DType == ScalarType.Int8) { perModule[module] = LinearFormat.Int8; continue; }
            if (scale.Shape.Length != 2 || entry.Shape.Length != 2 || scale.Shape[1] == 0 || entry.Shape[1] * 2 % scale.Shape[1] != 0)
                throw new ModelLoadException(source.PathOf(key), module + ScaleSuffix, $"int4 scales must be [out, in / group], got [{string.Join(", ", scale.Shape)}] for a weight [{string.Join(", ", entry.Shape)}] of packed nibbles");
            perModule[module] = LinearFormat.Int4((int)(entry.Shape[1] * 2 / scale.Shape[1]));
        }
        if (perModule.Count == 0) return null;
        var main = perModule.Values.GroupBy(f => f).OrderByDescending(g => g.Count()).First().Key;
        return new WeightQuantization
        {
            Kind = main.Kind, GroupSize = main.Kind == WeightKind.Int4 ? main.GroupSize : 32, PerModule = perModule,
            QuantizeHead = perModule.ContainsKey("lm_head"), PerModuleOnly = true,
        };
    }

    /// <summary>The checkpoint keys a quantized linear named <paramref name="module"/> reads.</summary>
    public static IEnumerable<string> KeysOf(string module, LinearFormat format) => format.Kind switch
    {
        WeightKind.Int8 => [module + ".weight", module + ScaleSuffix],
        WeightKind.Int4 => [module + ".weight", module + ScaleSuffix, module + ZeroSuffix],
        _ => [module + ".weight"],
    };

    /// <summary>
    /// Fills every <see cref="QuantizedLinear"/> of <paramref name="model"/>: from its stored integers, or by quantizing a
    /// floating-point weight (quantize-on-load). A tied model's quantized head is quantized from the embedding.
    /// </summary>
    public static void LoadLinears(CausalLMBase model, IWeightSource source, Action<string>? loaded = null)
    {
        using var _ = no_grad();
        foreach (var (module, linear) in Linears(model))
        {
            string key = module + ".weight";
            if (!source.Entries.ContainsKey(key) && module == "lm_head" && model.Config.TieWordEmbeddings) key = "model.embed_tokens.weight";
            if (!source.Entries.TryGetValue(key, out var entry)) throw new ModelLoadException(source.Description, module + ".weight", "missing weight");
            using var scope = NewDisposeScope();
            try
            {
                switch (entry.DType)
                {
                    case ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float64:
                        linear.SetFromFloat(source.Read(key));
                        break;
                    case ScalarType.Int8 when linear.Format.Kind == WeightKind.Int8:
                        linear.SetInt8(source.Read(key), source.Read(module + ScaleSuffix));
                        break;
                    case ScalarType.Byte when linear.Format.Kind == WeightKind.Int4:
                        if (!source.Entries.ContainsKey(module + ZeroSuffix)) throw new ModelLoadException(source.PathOf(key), module + ZeroSuffix, "an int4 weight needs its zeros");
                        linear.SetInt4(source.Read(key), source.Read(module + ScaleSuffix), source.Read(module + ZeroSuffix));
                        break;
                    default:
                        throw new ModelLoadException(source.PathOf(key), key, $"stored as {entry.DType}, which does not fit this model's {linear.Format} linear");
                }
            }
            catch (ArgumentException e)
            {
                throw new ModelLoadException(source.PathOf(key), key, e.Message, e);
            }
            loaded?.Invoke(key);
        }
    }

    /// <summary>The model's quantized linears by HF module name (<c>model.layers.0.self_attn.q_proj</c>, <c>lm_head</c>).</summary>
    public static IEnumerable<(string Module, QuantizedLinear Linear)> Linears(CausalLMBase model)
    {
        // TorchSharp's named_modules also lists a registered module under its C# field name (`_q`); keep the HF name.
        var seen = new HashSet<QuantizedLinear>(ReferenceEqualityComparer.Instance);
        foreach (var (name, m) in model.named_modules())
            if (m is QuantizedLinear q && !name.Split('.').Any(part => part.StartsWith('_')) && seen.Add(q)) yield return (name, q);
    }

    /// <summary>The tensors <see cref="PretrainedModel.Save"/> writes for the quantized linears (scales and zeros as F32).</summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> Export(CausalLMBase model)
    {
        foreach (var (module, linear) in Linears(model))
            foreach (var (suffix, value) in linear.Export())
                yield return new(module + "." + suffix, suffix == "weight" ? value : value.to_type(ScalarType.Float32));
    }

    /// <summary>Adds <c>quantization_config</c> to a written <c>config.json</c>.</summary>
    public static void RecordInConfig(string configPath, CausalLMBase model)
    {
        var quantization = model.Quantization;
        var root = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        var formats = Linears(model).Select(l => l.Linear.Format.ToString()).Distinct().Order().ToArray();
        root["quantization_config"] = new JsonObject
        {
            ["quant_method"] = "pardec",
            ["weights"] = quantization.Name,
            ["group_size"] = quantization.Kind == WeightKind.Int4 ? quantization.GroupSize : null,
            ["lm_head"] = quantization.QuantizeHead,
            ["formats"] = new JsonArray(formats.Select(f => (JsonNode)f!).ToArray()),
            ["layout"] = "docs/quantization.md: M.weight (I8 [out, in] | U8 nibbles [out, in/2]), M.weight_scale, M.weight_zero (int4)",
        };
        File.WriteAllText(configPath, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
