using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Loading;

/// <summary>
/// The weights of a Hugging Face checkpoint directory: one <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c> (its <c>weight_map</c> names the shard of every tensor, as
/// <c>save_pretrained</c> writes it). Every shard's header is read and checked against the index before any weight is
/// copied, so a missing shard or a tensor the index promises but no shard holds fails fast, naming the file.
/// </summary>
public sealed class CheckpointWeights : IWeightSource
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, SafetensorsFile> _fileOf;

    private CheckpointWeights(string description, Dictionary<string, SafetensorsFile> fileOf, IReadOnlyList<SafetensorsFile> files)
    {
        Description = description; _fileOf = fileOf; Files = files;
        Entries = fileOf.ToDictionary(kv => kv.Key, kv => kv.Value.Entries[kv.Key], StringComparer.Ordinal);
        TotalBytes = Entries.Values.Sum(e => e.End - e.Begin);
    }

    /// <summary>The file that names the weights (the single file or the index), for messages.</summary>
    public string Description { get; }
    public IReadOnlyList<SafetensorsFile> Files { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    /// <summary>Bytes of tensor data over all shards.</summary>
    public long TotalBytes { get; }

    /// <summary>The file holding <paramref name="name"/> (named in errors).</summary>
    public string PathOf(string name) => _fileOf.TryGetValue(name, out var f) ? f.Path : Description;

    public Tensor Read(string name) =>
        _fileOf.TryGetValue(name, out var f) ? f.Read(name) : throw new ModelLoadException(Description, name, "tensor not found");

    /// <summary>Whether <paramref name="directory"/> has weights in a layout this reads.</summary>
    public static bool Exists(string directory) =>
        File.Exists(Path.Combine(directory, SingleFileName)) || File.Exists(Path.Combine(directory, IndexFileName));

    /// <summary>A single safetensors file.</summary>
    public static CheckpointWeights FromFile(SafetensorsFile file) =>
        new(file.Path, file.Entries.Keys.ToDictionary(k => k, _ => file, StringComparer.Ordinal), [file]);

    /// <summary>Opens the weights of <paramref name="directory"/>; every problem is a <see cref="ModelLoadException"/> naming the file.</summary>
    public static CheckpointWeights Open(string directory)
    {
        string single = Path.Combine(directory, SingleFileName), index = Path.Combine(directory, IndexFileName);
        if (File.Exists(single)) return FromFile(SafetensorsFile.Open(single));
        if (File.Exists(index)) return OpenSharded(index);
        string? other = new[] { "pytorch_model.bin", "pytorch_model.bin.index.json", "model.gguf" }.FirstOrDefault(f => File.Exists(Path.Combine(directory, f)));
        throw new ModelLoadException(directory, null, other is not null
            ? $"{other} is not a format Pardec reads: convert the checkpoint to safetensors (model.safetensors or shards with {IndexFileName})"
            : $"weights not found: expected {SingleFileName} or {IndexFileName}");
    }

    private static CheckpointWeights OpenSharded(string indexPath)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(indexPath)); }
        catch (JsonException e) { throw new ModelLoadException(indexPath, null, $"invalid JSON: {e.Message}", e); }
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var weightMap))
                throw new ModelLoadException(indexPath, "weight_map", "required field is missing");
            if (weightMap.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException(indexPath, "weight_map", $"expected an object of tensor name to shard file, got {weightMap.ValueKind}");
            foreach (var entry in weightMap.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new ModelLoadException(indexPath, $"weight_map.{entry.Name}", $"expected a shard file name, got {entry.Value.GetRawText()}");
                string shard = entry.Value.GetString()!;
                if (shard.Length == 0 || Path.IsPathRooted(shard) || shard.Contains("..", StringComparison.Ordinal) || shard.IndexOfAny(['/', '\\']) >= 0)
                    throw new ModelLoadException(indexPath, $"weight_map.{entry.Name}", $"'{shard}' is not a file name in the checkpoint directory");
                map[entry.Name] = shard;
            }
        }
        if (map.Count == 0) throw new ModelLoadException(indexPath, "weight_map", "lists no tensors");

        string directory = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var shards = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        foreach (string shard in map.Values.Distinct().Order(StringComparer.Ordinal))
        {
            string path = Path.Combine(directory, shard);
            if (!File.Exists(path))
                throw new ModelLoadException(path, null, $"shard not found (listed in {IndexFileName})");
            shards[shard] = SafetensorsFile.Open(path);
        }
        var fileOf = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        foreach (var (name, shard) in map)
        {
            var file = shards[shard];
            if (!file.Entries.ContainsKey(name))
                throw new ModelLoadException(file.Path, name, $"{IndexFileName} places this tensor in {shard}, which does not hold it");
            fileOf[name] = file;
        }
        // A tensor a shard holds but the index does not list is read from nowhere: say so rather than ignore it.
        foreach (var (shard, file) in shards)
            foreach (var name in file.Entries.Keys)
                if (!map.ContainsKey(name))
                    throw new ModelLoadException(indexPath, $"weight_map.{name}", $"{shard} holds this tensor but the index does not list it");
        return new CheckpointWeights(indexPath, fileOf, shards.Values.ToList());
    }
}

/// <summary>How far a weight load has come (reported after every tensor).</summary>
public readonly record struct LoadProgress(int Tensors, int TotalTensors, long Bytes, long TotalBytes, string File);
