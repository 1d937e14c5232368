using Pardec.Runtime.Models;
using Pardec.Runtime.Quantization;
using Pardec.Runtime.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Loading;

/// <summary>
/// A model loaded from a Hugging Face directory (<c>config.json</c>, <c>model.safetensors</c>, tokenizer files),
/// and the inverse: saving a model in that layout (the training tool's output).
/// </summary>
public sealed class PretrainedModel : IDisposable
{
    public const string ConfigFileName = "config.json";
    public const string WeightsFileName = "model.safetensors";

    /// <summary>Tokenizer and generation files copied along by <see cref="Save"/>.</summary>
    private static readonly string[] TokenizerFiles =
        ["tokenizer.model", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "tokenizer.json"];

    private PretrainedModel(string directory, ModelConfig config, CausalLMBase model, TextTokenizer? tokenizer)
    {
        Directory = directory; Config = config; Model = model; Tokenizer = tokenizer;
    }

    public string Directory { get; }
    public ModelConfig Config { get; }
    /// <summary>The model; a TorchSharp module, so a training tool can call <c>parameters()</c> on it.</summary>
    public CausalLMBase Model { get; }
    /// <summary>The tokenizer found in the directory (GPT-2 falls back to the built-in tiktoken data), or null.</summary>
    public TextTokenizer? Tokenizer { get; }

    /// <summary>
    /// Loads config, weights (f32/bf16/f16 files, converted to <paramref name="dtype"/>) and tokenizer.
    /// Every problem is a <see cref="ModelLoadException"/> naming the file and the tensor or field.
    /// With <paramref name="quantization"/> (int8 / int4), float weights are quantized as they load; a checkpoint saved
    /// quantized loads in its stored formats without it. <paramref name="dtype"/> is then the activations' dtype.
    /// </summary>
    public static PretrainedModel Load(string directory, Device device, ScalarType dtype = ScalarType.Float32, bool requireTokenizer = false,
                                       IProgress<LoadProgress>? progress = null, WeightQuantization? quantization = null)
    {
        var config = LoadConfig(directory);
        var tokenizer = TextTokenizer.FromDirectory(directory, config);
        if (tokenizer is null && requireTokenizer)
            throw new ModelLoadException(directory, null,
                "no tokenizer found: expected tokenizer.json, tokenizer.model (SentencePiece) or vocab.json + merges.txt");
        // Ids past the embedding are allowed only for special tokens text never encodes to (Gemma 3's tokenizer carries
        // <image_soft_token> at 262144 for its multimodal sibling; the text model's vocab_size is 262144).
        if (tokenizer is not null && tokenizer.VocabSize > config.VocabSize)
            for (int id = config.VocabSize; id < tokenizer.VocabSize; id++)
                if (!tokenizer.IsSpecial(id) && tokenizer.IdToToken(id) is not null)
                    throw new ModelLoadException(tokenizer.SourcePath, "vocab_size",
                        $"the tokenizer has {tokenizer.VocabSize} tokens but the model's vocab_size (embedding rows) is {config.VocabSize}; id {id} ('{tokenizer.IdToToken(id)}') has no embedding");
        var model = LoadModel(directory, config, device, dtype, progress, quantization);
        return new PretrainedModel(directory, config, model, tokenizer);
    }

    /// <summary>
    /// Loads a GGUF file (llama.cpp's format; <see cref="GgufWeights"/> says how each ggml type maps): config from its
    /// metadata, weights as stored (Q8_0 → int8, Q4_0 → int4) unless <paramref name="quantization"/> says otherwise
    /// (<see cref="WeightQuantization.None"/>: dequantize everything exactly). The tokenizer comes from the file's metadata
    /// (<see cref="GgufTokenizer"/>), or else from tokenizer files in its directory.
    /// </summary>
    public static PretrainedModel LoadGguf(string path, Device device, ScalarType dtype = ScalarType.Float32, WeightQuantization? quantization = null,
                                           bool requireTokenizer = false, IProgress<LoadProgress>? progress = null)
    {
        var weights = GgufWeights.Open(path, quantization, dtype);
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        // The file's own vocabulary first (GgufTokenizer: byte-level BPE), else tokenizer files beside it.
        // A vocabulary the metadata reader does not handle yet (SentencePiece 'llama') is taken from tokenizer files beside
        // the file, as its error message tells the user to do; only without them is that error raised.
        TextTokenizer? tokenizer;
        try { tokenizer = GgufTokenizer.Read(weights.File, weights.Config) ?? TextTokenizer.FromDirectory(directory, weights.Config); }
        catch (ModelLoadException) when (TextTokenizer.FromDirectory(directory, weights.Config) is { } beside) { tokenizer = beside; }
        if (tokenizer is null && requireTokenizer)
            throw new ModelLoadException(path, "tokenizer.ggml.tokens", "no tokenizer: the file has no tokenizer metadata and its directory no tokenizer.json / tokenizer.model");
        var model = Build(weights, weights.Config, device, dtype, progress, quantization: null);
        return new PretrainedModel(path, weights.Config, model, tokenizer);
    }

    /// <summary>Loads only config and weights.</summary>
    public static CausalLMBase LoadModel(string directory, Device device, ScalarType dtype = ScalarType.Float32, IProgress<LoadProgress>? progress = null,
                                         WeightQuantization? quantization = null) =>
        LoadModel(directory, LoadConfig(directory), device, dtype, progress, quantization);

    private static ModelConfig LoadConfig(string directory)
    {
        if (!System.IO.Directory.Exists(directory)) throw new ModelLoadException(directory, null, "model directory not found");
        return ModelConfig.Load(Path.Combine(directory, ConfigFileName));
    }

    private static CausalLMBase LoadModel(string directory, ModelConfig config, Device device, ScalarType dtype, IProgress<LoadProgress>? progress,
                                          WeightQuantization? quantization)
    {
        var weights = CheckpointWeights.Open(directory); // every header validated before the model is built
        return Build(weights, config, device, dtype, progress, quantization);
    }

    /// <summary>
    /// A quantized copy of a float model (same config, device and activation dtype): every linear quantized as
    /// <paramref name="quantization"/> says, exactly as quantize-on-load would from a checkpoint of these weights.
    /// </summary>
    public static CausalLMBase Quantize(CausalLMBase model, WeightQuantization quantization)
    {
        if (!model.Quantization.IsNone) throw new ArgumentException($"the model is already quantized ({model.Quantization.Name})", nameof(model));
        return Build(new ModuleWeights(model), model.Config, model.Device, model.DType, null, quantization);
    }

    /// <summary>
    /// The model for <paramref name="weights"/>: in the formats a quantized checkpoint stores, or as
    /// <paramref name="quantization"/> asks (which must then agree with them).
    /// </summary>
    internal static CausalLMBase Build(IWeightSource weights, ModelConfig config, Device device, ScalarType dtype, IProgress<LoadProgress>? progress,
                                       WeightQuantization? quantization)
    {
        var stored = QuantizedCheckpoint.StoredFormats(weights);
        if (stored is not null && quantization is { IsNone: false } && quantization.Name != stored.Name)
            throw new ModelLoadException(weights.Description, null,
                $"the checkpoint is stored quantized ({stored.Name}); it loads in that format only (asked for {quantization.Name}): load its float original to quantize differently");
        CausalLMBase model;
        try { model = CausalLM.Create(config, device, dtype, stored ?? quantization); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException) { throw new ModelLoadException(weights.Description, null, e.Message, e); }
        try
        {
            // LLaDA's checkpoints name the Llama block's weights their own way (see LLaDAModelLM).
            if (config.ModelType == "llada")
                weights = new RenamedWeights(weights, model.named_parameters().Select(p => p.name), LLaDAModelLM.CheckpointName);
            LoadWeights(model, weights, progress);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>
    /// Copies every parameter from <paramref name="file"/>, checking names and shapes first; transposes the
    /// weights the checkpoint stores as <c>[in, out]</c> (GPT-2 Conv1D).
    /// </summary>
    public static void LoadWeights(CausalLMBase model, SafetensorsFile file) => LoadWeights(model, CheckpointWeights.FromFile(file));

    /// <summary>
    /// As <see cref="LoadWeights(CausalLMBase, SafetensorsFile)"/> over every shard of a checkpoint. Tensors are read
    /// one at a time into the model's own parameters, so peak memory is the model plus its largest tensor.
    /// </summary>
    public static void LoadWeights(CausalLMBase model, CheckpointWeights file, IProgress<LoadProgress>? progress = null) =>
        LoadWeights(model, (IWeightSource)file, progress);

    /// <summary>As <see cref="LoadWeights(CausalLMBase, CheckpointWeights, IProgress{LoadProgress})"/> from any weight source
    /// (a GGUF file too); quantized linears are filled from stored integers or quantized from float weights.</summary>
    public static void LoadWeights(CausalLMBase model, IWeightSource file, IProgress<LoadProgress>? progress = null)
    {
        var parameters = model.named_parameters().ToList();
        var known = new HashSet<string>(StringComparer.Ordinal);
        var quantized = QuantizedCheckpoint.Linears(model).ToList();
        foreach (var (module, linear) in quantized)
            foreach (var key in QuantizedCheckpoint.KeysOf(module, linear.Format))
                known.Add(key);
        foreach (var (name, p) in parameters)
        {
            known.Add(name);
            if (!file.Entries.TryGetValue(name, out var entry))
                throw new ModelLoadException(file.Description, name, name == "lm_head.weight"
                    ? "missing weight (the config says tie_word_embeddings is false; a checkpoint without lm_head.weight needs it true)"
                    : "missing weight");
            bool transposed = model.IsStoredTransposed(name);
            long[] expected = transposed ? p.shape.Reverse().ToArray() : p.shape;
            if (!expected.SequenceEqual(entry.Shape))
                throw new ModelLoadException(file.PathOf(name), name,
                    $"shape [{string.Join(", ", entry.Shape)}] disagrees with the config, which needs [{string.Join(", ", expected)}]");
            if (entry.DType is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float64))
                throw new ModelLoadException(file.PathOf(name), name, $"weights must be floating point, got {entry.DType}");
        }
        foreach (var key in file.Entries.Keys)
            if (!known.Contains(key) && !model.IsIgnorableCheckpointKey(key))
                throw new ModelLoadException(file.PathOf(key), key, "unexpected tensor: not a weight of this architecture (wrong model_type?)");

        using var _ = torch.no_grad();
        long Size(string key) => file.Entries.TryGetValue(key, out var e) ? e.End - e.Begin : 0;
        int count = parameters.Count + quantized.Count;
        long bytes = 0, total = parameters.Sum(p => Size(p.name)) + quantized.Sum(q => QuantizedCheckpoint.KeysOf(q.Module, q.Linear.Format).Sum(Size));
        for (int i = 0; i < parameters.Count; i++)
        {
            var (name, p) = parameters[i];
            using (var scope = torch.NewDisposeScope())
            {
                var source = file.Read(name);
                if (model.IsStoredTransposed(name)) source = source.t();
                p.copy_(source); // converts dtype and device
            }
            bytes += file.Entries[name].End - file.Entries[name].Begin;
            progress?.Report(new LoadProgress(i + 1, count, bytes, total, file.PathOf(name)));
        }
        int done = parameters.Count;
        QuantizedCheckpoint.LoadLinears(model, file, key =>
        {
            bytes += Size(key);
            progress?.Report(new LoadProgress(++done, count, bytes, total, file.PathOf(key)));
        });
    }

    /// <summary>
    /// Writes <paramref name="directory"/>/<c>config.json</c> and <c>model.safetensors</c> (in <paramref name="dtype"/>,
    /// float32 or bfloat16), and copies tokenizer files from <paramref name="tokenizerSourceDirectory"/> if given.
    /// The result loads back with <see cref="Load"/>. With <paramref name="maxShardBytes"/>, the weights are split as
    /// <c>save_pretrained</c> splits them: <c>model-0000i-of-0000n.safetensors</c> plus <c>model.safetensors.index.json</c>.
    /// </summary>
    public static void Save(CausalLMBase model, string directory, ScalarType dtype = ScalarType.Float32, string? tokenizerSourceDirectory = null,
                            long? maxShardBytes = null)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new ArgumentException($"save as Float32 or BFloat16, not {dtype}", nameof(dtype));
        System.IO.Directory.CreateDirectory(directory);
        model.Config.Save(Path.Combine(directory, ConfigFileName), dtype == ScalarType.BFloat16 ? "bfloat16" : "float32");
        if (!model.Quantization.IsNone) QuantizedCheckpoint.RecordInConfig(Path.Combine(directory, ConfigFileName), model);
        using (var scope = torch.NewDisposeScope())
        {
            var tensors = new List<KeyValuePair<string, Tensor>>();
            foreach (var (name, p) in model.named_parameters())
            {
                var t = p.detach().to_type(dtype);
                if (model.IsStoredTransposed(name)) t = t.t();
                tensors.Add(new(name, t));
            }
            tensors.AddRange(QuantizedCheckpoint.Export(model)); // int8 / int4 linears in their saved layout
            if (maxShardBytes is long limit) WriteShards(directory, tensors, limit);
            else SafetensorsFile.Write(Path.Combine(directory, WeightsFileName), tensors);
        }
        if (tokenizerSourceDirectory is not null && Path.GetFullPath(tokenizerSourceDirectory) != Path.GetFullPath(directory))
            foreach (var fileName in TokenizerFiles)
            {
                string source = Path.Combine(tokenizerSourceDirectory, fileName);
                if (File.Exists(source)) File.Copy(source, Path.Combine(directory, fileName), overwrite: true);
            }
    }

    // Greedy packing in parameter order (a tensor larger than the limit gets a shard of its own), as transformers does.
    private static void WriteShards(string directory, List<KeyValuePair<string, Tensor>> tensors, long limit)
    {
        var shards = new List<List<KeyValuePair<string, Tensor>>> { new() };
        long size = 0;
        foreach (var t in tensors)
        {
            long bytes = t.Value.NumberOfElements * t.Value.ElementSize;
            if (size > 0 && size + bytes > limit) { shards.Add([]); size = 0; }
            shards[^1].Add(t);
            size += bytes;
        }
        using var stream = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(stream, new System.Text.Json.JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("metadata");
            w.WriteNumber("total_size", tensors.Sum(t => t.Value.NumberOfElements * t.Value.ElementSize));
            w.WriteEndObject();
            w.WriteStartObject("weight_map");
            for (int i = 0; i < shards.Count; i++)
            {
                string name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
                SafetensorsFile.Write(Path.Combine(directory, name), shards[i]);
                foreach (var t in shards[i]) w.WriteString(t.Key, name);
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        File.WriteAllBytes(Path.Combine(directory, CheckpointWeights.IndexFileName), stream.ToArray());
    }

    public void Dispose() => Model.Dispose();
}
