using static TorchSharp.torch;

namespace Pardec.Runtime.Loading;

/// <summary>
/// A checkpoint whose tensors carry another family's names, seen under the names of the module that computes it
/// (LLaDA's <c>model.transformer.blocks.N.*</c> as the Llama parameters its block is). A tensor the mapping does not
/// cover keeps its own name, so the loader still refuses it as unexpected, naming it as the file does.
/// </summary>
public sealed class RenamedWeights : IWeightSource
{
    private readonly IWeightSource _inner;
    private readonly Dictionary<string, string> _toCheckpoint = new(StringComparer.Ordinal);

    /// <param name="checkpointName">The checkpoint's name of a module parameter; null or a throw for names it has none for.</param>
    public RenamedWeights(IWeightSource inner, IEnumerable<string> moduleNames, Func<string, string?> checkpointName)
    {
        _inner = inner;
        var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        var mapped = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in moduleNames)
        {
            string? stored;
            try { stored = checkpointName(name); }
            catch (ArgumentException) { stored = null; }
            if (stored is null || !inner.Entries.TryGetValue(stored, out var entry)) continue;
            _toCheckpoint[name] = stored;
            mapped.Add(stored);
            entries[name] = entry;
        }
        foreach (var (key, entry) in inner.Entries)
            if (!mapped.Contains(key)) entries[key] = entry;
        Entries = entries;
    }

    public string Description => _inner.Description;
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    public string PathOf(string name) => _inner.PathOf(_toCheckpoint.GetValueOrDefault(name, name));
    public Tensor Read(string name) => _inner.Read(_toCheckpoint.GetValueOrDefault(name, name));
}
