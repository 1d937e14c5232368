using System.Globalization;

namespace Pardec.Training;

/// <summary>
/// The command line: <c>&lt;kind&gt; --key value ... [--resume]</c>. Hand-parsed (the tool has one flat option set) so
/// every mistake becomes a one-line <see cref="TrainingException"/> instead of a parser's help dump.
/// </summary>
public sealed class Options
{
    public const string Usage = """
        usage: pardec-train <causal|masked|medusa|eval|bars> [options]
          causal | masked   --corpus FILE --valid FILE --out DIR (--minutes M | --steps N) [--seed S] [--resume]
                            [--init DIR (start from DIR's weights and shape)] [--shift-logits 0|1 (masked: row i predicts i+1)]
                            [--config FILE|JSON] [--hidden 256 --layers 4 --heads 8 --kv-heads 4 --intermediate 688]
                            [--context 256 --batch 16 --lr 2e-3 --warmup 50 --min-lr 0.1 --clip 1.0 --weight-decay 0.01]
                            [--checkpoint-every 200 --stop-after N --valid-tokens 65536 --eval-slice FILE --tokenizer FILE]
          medusa            --target DIR --heads 4 plus the training options above (the target stays frozen)
          eval              --model DIR --valid FILE [--draft DIR] [--medusa DIR] [--tokens 2048] [--prompt TEXT --new-tokens 60]
          bars              --model DIR --causal DIR --prompts FILE[,FILE] [--prompt-tokens 48 --length 64 --temperature 0.8 --seed 1]
                            [--strategies DIR --out FILE.json]: a diffusion LM's quality bars (LladaOneByOne, FastDllmThreshold)
        """;

    public required string Kind { get; init; }
    public required IReadOnlyList<string> RawArgs { get; init; }
    private readonly Dictionary<string, string> _values = new();
    private readonly HashSet<string> _flags = new();
    private readonly HashSet<string> _used = new();

    private static readonly HashSet<string> KnownFlags = ["resume"];
    private static readonly string[] Kinds = ["causal", "masked", "medusa", "eval", "bars"];

    public static Options Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
            throw new TrainingException(Usage);
        if (Array.IndexOf(Kinds, args[0]) < 0)
            throw new TrainingException($"unknown kind '{args[0]}'\n{Usage}");
        var o = new Options { Kind = args[0], RawArgs = args };
        for (int i = 1; i < args.Length; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal))
                throw new TrainingException($"unexpected argument '{a}'\n{Usage}");
            var key = a[2..];
            if (KnownFlags.Contains(key)) { o._flags.Add(key); continue; }
            if (i + 1 >= args.Length)
                throw new TrainingException($"option --{key} needs a value");
            o._values[key] = args[++i];
        }
        return o;
    }

    public bool Flag(string name) { _used.Add(name); return _flags.Contains(name); }

    public string? OptionalString(string name) { _used.Add(name); return _values.GetValueOrDefault(name); }

    public string String(string name) =>
        OptionalString(name) ?? throw new TrainingException($"missing required option --{name}\n{Usage}");

    public int Int(string name, int fallback) => OptionalInt(name) ?? fallback;

    public int? OptionalInt(string name)
    {
        var s = OptionalString(name);
        if (s is null) return null;
        return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0
            ? v : throw new TrainingException($"--{name}: expected a non-negative integer, got '{s}'");
    }

    public double Double(string name, double fallback) => OptionalDouble(name) ?? fallback;

    public double? OptionalDouble(string name)
    {
        var s = OptionalString(name);
        if (s is null) return null;
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0
            ? v : throw new TrainingException($"--{name}: expected a non-negative number, got '{s}'");
    }

    /// <summary>Options nobody read are typos; failing beats silently training with a default.</summary>
    public void RejectUnused()
    {
        var unused = _values.Keys.Concat(_flags).Where(k => !_used.Contains(k)).ToList();
        if (unused.Count > 0)
            throw new TrainingException($"unknown option(s) for '{Kind}': {string.Join(", ", unused.Select(u => "--" + u))}");
    }

    /// <summary>The default tokenizer is the repository's shared one, found by walking up to Dsl.sln.</summary>
    public string TokenizerPath()
    {
        var explicitPath = OptionalString("tokenizer");
        if (explicitPath is not null) return explicitPath;
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln")))
                return Path.Combine(dir.FullName, "models", "tokenizer", "tokenizer.model");
        throw new TrainingException("--tokenizer not given and no Dsl.sln above the current directory to find models/tokenizer/tokenizer.model");
    }
}
