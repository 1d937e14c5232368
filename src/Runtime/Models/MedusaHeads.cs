using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pardec.Runtime.Models;

/// <summary>
/// Medusa-1 heads (Cai et al. 2024), in the Medusa repository's layout: head k (0-based) reads the target's last
/// hidden state at position t and predicts the token at t + k + 2 — the token after the one the target's own LM
/// head predicts. Each head is a residual block <c>h + SiLU(W h + b)</c> followed by an LM head, which may be the
/// target's own (frozen, shared to keep the files small) or a head of its own.
/// </summary>
public sealed class MedusaHeads : Module<Tensor, Tensor>
{
    private readonly ModuleList<Linear> blocks;
    private readonly ModuleList<Linear>? heads;

    public MedusaHeads(int count, int hiddenSize, int vocabSize, bool sharedLmHead) : base(nameof(MedusaHeads))
    {
        Count = count;
        SharedLmHead = sharedLmHead;
        blocks = new ModuleList<Linear>(Enumerable.Range(0, count).Select(_ => Linear(hiddenSize, hiddenSize, hasBias: true)).ToArray());
        if (!sharedLmHead)
            heads = new ModuleList<Linear>(Enumerable.Range(0, count).Select(_ => Linear(hiddenSize, vocabSize, hasBias: false)).ToArray());
        RegisterComponents();
    }

    public int Count { get; }
    public bool SharedLmHead { get; }

    private long _callTicks;

    /// <summary>How many times decode loops ran the heads (one call ranks every head), and the calls' wall time (CPU
    /// ops are synchronous). The heads are a Medusa strategy's draft: a benchmark reports their time as such rather
    /// than as host overhead. Counting costs two timestamps per call.</summary>
    public int Calls { get; private set; }
    public TimeSpan CallTime => System.Diagnostics.Stopwatch.GetElapsedTime(0, _callTicks);
    public void ResetCallTimer() { _callTicks = 0; Calls = 0; }
    internal void RecordCall(long startTimestamp)
    {
        _callTicks += System.Diagnostics.Stopwatch.GetTimestamp() - startTimestamp;
        Calls++;
    }

    /// <summary>Head <paramref name="k"/>'s residual block, <c>h + SiLU(W_k h + b_k)</c>: <c>[..., hidden]</c> (training projects it itself).</summary>
    public Tensor Head(int k, Tensor hidden) => hidden.add(functional.silu(blocks[k].forward(hidden)), Scalars.One); // explicit alpha: see Scalars

    /// <summary>The residual-block outputs of every head: <c>[..., heads, hidden]</c>. Project them with the target's LM head when shared.</summary>
    public Tensor Hidden(Tensor hidden /* [..., hidden] */)
    {
        using var scope = NewDisposeScope();
        var outputs = new Tensor[Count];
        for (int k = 0; k < Count; k++) outputs[k] = hidden.add(functional.silu(blocks[k].forward(hidden)), Scalars.One);
        return stack(outputs, dim: -2).MoveToOuterDisposeScope();
    }

    /// <summary>Logits of every head, <c>[..., heads, vocab]</c>; needs the target's LM head when shared.</summary>
    public Tensor Logits(Tensor hidden, Func<Tensor, Tensor>? sharedLmHead)
    {
        using var scope = NewDisposeScope();
        var h = Hidden(hidden); // [..., heads, hidden]
        Tensor logits;
        if (heads is null)
            logits = (sharedLmHead ?? throw new InvalidOperationException("These Medusa heads share the target's LM head; pass it."))(h);
        else
            logits = stack(Enumerable.Range(0, Count).Select(k => heads[k].forward(h.select(-2, k))).ToArray(), dim: -2);
        return logits.MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor hidden) => Hidden(hidden);

    /// <summary>Head <paramref name="k"/>'s residual-block weight and bias, and its own LM head weight (null when shared).</summary>
    internal (Tensor Weight, Tensor Bias, Tensor? Head) Parameters(int k) => (blocks[k].weight!, blocks[k].bias!, heads?[k].weight);

    /// <summary>Maps our parameter names to the Medusa repository's (<c>medusa_head.{k}.0.linear.weight</c>, <c>medusa_head.{k}.1.weight</c>).</summary>
    public static string ToMedusaKey(string name)
    {
        // blocks.{k}.weight -> medusa_head.{k}.0.linear.weight ; heads.{k}.weight -> medusa_head.{k}.1.weight
        var parts = name.Split('.');
        return parts[0] switch
        {
            "blocks" => $"medusa_head.{parts[1]}.0.linear.{parts[2]}",
            "heads" => $"medusa_head.{parts[1]}.1.{parts[2]}",
            _ => name,
        };
    }

    /// <summary>
    /// Loads heads saved in the Medusa layout (<see cref="ConfigFile"/> + <see cref="WeightsFile"/>) for a target with
    /// <paramref name="target"/>'s config. Every tensor is checked against the config before any is copied; errors name
    /// the file and the tensor.
    /// </summary>
    public static MedusaHeads Load(string directory, ModelConfig target, Device device, ScalarType dtype)
    {
        if (!System.IO.Directory.Exists(directory)) throw new Loading.ModelLoadException(directory, null, "Medusa heads directory not found");
        string configPath = Path.Combine(directory, ConfigFile);
        if (!File.Exists(configPath)) throw new Loading.ModelLoadException(configPath, null, "file not found");
        Config config;
        try { config = Config.Read(configPath); }
        catch (Exception e) when (e is FormatException or JsonException) { throw new Loading.ModelLoadException(configPath, null, e.Message); }
        if (config.HiddenSize != target.HiddenSize)
            throw new Loading.ModelLoadException(configPath, "hidden_size", $"{config.HiddenSize} disagrees with the target's hidden_size {target.HiddenSize}");
        if (config.VocabSize != target.VocabSize)
            throw new Loading.ModelLoadException(configPath, "vocab_size", $"{config.VocabSize} disagrees with the target's vocab_size {target.VocabSize}");
        var file = Loading.SafetensorsFile.Open(Path.Combine(directory, WeightsFile));
        var heads = new MedusaHeads(config.Heads, config.HiddenSize, config.VocabSize, config.SharedLmHead);
        heads.to(device, dtype);
        var parameters = heads.named_parameters().ToList();
        foreach (var (name, p) in parameters)
        {
            string key = ToMedusaKey(name);
            if (!file.Entries.TryGetValue(key, out var entry)) throw new Loading.ModelLoadException(file.Path, key, "missing weight");
            if (!p.shape.SequenceEqual(entry.Shape))
                throw new Loading.ModelLoadException(file.Path, key, $"shape [{string.Join(", ", entry.Shape)}] disagrees with the config, which needs [{string.Join(", ", p.shape)}]");
        }
        using (no_grad())
            foreach (var (name, p) in parameters)
            {
                using var scope = NewDisposeScope();
                p.copy_(file.Read(ToMedusaKey(name)));
            }
        heads.eval();
        return heads;
    }

    /// <summary>Writes the heads in the Medusa layout (<see cref="ConfigFile"/> + <see cref="WeightsFile"/>), loadable by <see cref="Load"/>.</summary>
    public void Save(string directory, int vocabSize, ScalarType dtype = ScalarType.Float32)
    {
        System.IO.Directory.CreateDirectory(directory);
        int hidden = (int)blocks[0].weight!.shape[0];
        using var scope = NewDisposeScope();
        var tensors = named_parameters().Select(p => new KeyValuePair<string, Tensor>(ToMedusaKey(p.name), p.parameter.detach().to(dtype).cpu())).ToList();
        Loading.SafetensorsFile.Write(Path.Combine(directory, WeightsFile), tensors);
        new Config(Count, hidden, vocabSize, SharedLmHead).Write(Path.Combine(directory, ConfigFile));
    }

    public const string ConfigFile = "medusa_config.json";
    public const string WeightsFile = "medusa_heads.safetensors";

    /// <summary>The config file's fields: <c>medusa_num_heads</c>, <c>medusa_num_layers</c> (1), <c>hidden_size</c>, <c>vocab_size</c>, <c>shared_lm_head</c>.</summary>
    public sealed record Config(int Heads, int HiddenSize, int VocabSize, bool SharedLmHead)
    {
        public static Config Read(string path)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            int Get(string field) => root.TryGetProperty(field, out var v) && v.TryGetInt32(out int x)
                ? x : throw new FormatException($"{path}: field '{field}' is missing or not an integer.");
            bool shared = root.TryGetProperty("shared_lm_head", out var s) && s.ValueKind == JsonValueKind.True;
            int layers = root.TryGetProperty("medusa_num_layers", out var l) && l.TryGetInt32(out int nl) ? nl : 1;
            if (layers != 1) throw new FormatException($"{path}: medusa_num_layers = {layers}; Pardec reads Medusa-1 heads with one residual block each.");
            return new Config(Get("medusa_num_heads"), Get("hidden_size"), Get("vocab_size"), shared);
        }

        public void Write(string path) => File.WriteAllText(path, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["medusa_num_heads"] = Heads, ["medusa_num_layers"] = 1, ["hidden_size"] = HiddenSize,
            ["vocab_size"] = VocabSize, ["shared_lm_head"] = SharedLmHead,
        }, new JsonSerializerOptions { WriteIndented = true }));
    }
}
