using System.CommandLine;
using System.Globalization;
using Pardec.Cli.Models;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Quantization;
using Pardec.Runtime.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Cli.Commands;

public enum Engine { Generated, Interpreted }

/// <summary>The options every decoding command shares (run, trace, bench), and what they turn into.</summary>
internal sealed class DecodeOptions
{
    public Option<string?> Model { get; } = new("--model") { Description = "Target model directory (Hugging Face layout); default: the shipped models/english/target (masked strategies: models/english/diffusion)" };
    public Option<string?> Draft { get; } = new("--draft") { Description = "Draft model directory for draft roles; default: models/english/draft" };
    public Option<string?> Heads { get; } = new("--heads") { Description = "Medusa heads directory (medusa_config.json + medusa_heads.safetensors); default: models/english/medusa" };
    public Option<string?> ModelsRoot { get; } = new("--models") { Description = "Root of the shipped model tree (<task>/target|draft|medusa|diffusion, eval/); default: next to the executable" };
    public Option<int> MaxTokens { get; } = new("--max-tokens") { Description = "Tokens to generate at most", DefaultValueFactory = _ => 64 };
    public Option<double> Temperature { get; } = new("--temperature") { Description = "0 = greedy; otherwise sample at this temperature", DefaultValueFactory = _ => 0.0 };
    public Option<int> TopK { get; } = new("--top-k") { Description = "Sample from the k most likely tokens only; 0 = off", DefaultValueFactory = _ => 0 };
    public Option<double> TopP { get; } = new("--top-p") { Description = "Nucleus sampling mass; 1 = off", DefaultValueFactory = _ => 1.0 };
    public Option<long> Seed { get; } = new("--seed") { Description = "Sampling seed: the same seed gives the same text", DefaultValueFactory = _ => 0L };
    public Option<string[]> Params { get; } = new("--param") { Description = "Strategy parameter override name=value (repeatable)", Arity = ArgumentArity.ZeroOrMore };
    public Option<Engine?> EngineOption { get; } = new("--engine") { Description = "generated (default for library strategies) or interpreted" };
    public Option<string> DType { get; } = new("--dtype")
    {
        Description = "auto, f32, bf16, int8 or int4[-gGROUP]. auto: a bf16 checkpoint runs in bf16 where the device computes it fast (CUDA; a CPU with AVX512_BF16 or AMX), except small models on the CPU; everything else in f32. int8 / int4: weight-only quantized linears (CPU; quantized as they load; activations bf16 where the CPU has AVX512_BF16/AMX, libtorch's quantized kernels being slow in f32, else f32; group 32, 64, 128 or 256, default 32; docs/quantization.md). A .gguf --model loads as stored with the same activations unless --dtype says otherwise",
        DefaultValueFactory = _ => "auto",
    };
    public Option<string> Device { get; } = new("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
    public Option<int> Threads { get; } = new("--threads") { Description = "Torch CPU threads", DefaultValueFactory = _ => 1 };

    public void AddTo(Command command, bool modelDirectories = true)
    {
        if (modelDirectories) { command.Options.Add(Model); command.Options.Add(Draft); command.Options.Add(Heads); }
        foreach (var o in new Option[] { ModelsRoot, MaxTokens, Temperature, TopK, TopP, Seed, Params, EngineOption, DType, Device, Threads })
            command.Options.Add(o);
    }

    /// <summary>Only --dtype, --device and --threads, for commands that load models but do not decode a strategy.</summary>
    public void AddTorchTo(Command command)
    {
        foreach (var o in new Option[] { DType, Device, Threads }) command.Options.Add(o);
    }

    public ModelPaths Paths(ParseResult parse, string task = ModelLocator.DefaultTask) =>
        new(parse.GetValue(ModelsRoot) ?? ModelLocator.DefaultRoot(), task,
            parse.GetValue(Model), parse.GetValue(Draft), parse.GetValue(Heads));

    /// <summary>
    /// The generation options: the command line's, with the target's <c>generation_config.json</c> sampling defaults
    /// for what it does not set (<see cref="GenerationConfig.ApplyTo"/>).
    /// </summary>
    public GenerationOptions Generation(ParseResult parse)
    {
        var options = new GenerationOptions
        {
            MaxNewTokens = parse.GetValue(MaxTokens),
            Temperature = parse.GetValue(Temperature),
            TopK = parse.GetValue(TopK),
            TopP = parse.GetValue(TopP),
            Seed = parse.GetValue(Seed),
        };
        if (parse.GetValue(Model) is string model && GenerationConfig.Load(System.IO.Path.Combine(model, GenerationConfig.FileName)) is { } defaults)
            options = defaults.ApplyTo(options, Given(parse, Temperature), Given(parse, TopP), Given(parse, TopK));
        try { options.Validate(); }
        catch (ArgumentOutOfRangeException e) { throw new CliException($"--{Kebab(e.ParamName)} {e.ActualValue}: {e.Message.Split(" (Parameter")[0].Split('\n')[0]}"); }
        return options;
    }

    /// <summary>Applies --threads and returns the device and precision (null: auto, chosen per model directory by
    /// <see cref="Runtime.Loading.AutoDType"/>); the first tensor operation happens here.</summary>
    public (Device Device, ModelPrecision? DType) Torch(ParseResult parse)
    {
        int threads = parse.GetValue(Threads);
        if (threads < 1) throw new CliException($"--threads {threads}: must be at least 1");
        torch.set_num_threads(threads);
        var dtype = ParsePrecision(parse.GetValue(DType));
        var device = parse.GetValue(Device)?.ToLowerInvariant() switch
        {
            "cpu" => CPU,
            "cuda" => torch.cuda.is_available() ? CUDA : throw new CliException("--device cuda: no CUDA device is available (this build carries the CPU libtorch)"),
            var other => throw new CliException($"--device {other}: expected cpu or cuda"),
        };
        return (device, dtype);
    }

    /// <summary>
    /// The --param overrides, checked against the plan (name, type, range) before any model is loaded. A sampled
    /// decode also sets a runtime <c>temperature</c> parameter the user did not set.
    /// </summary>
    public Dictionary<string, string> Parameters(ParseResult parse, DecodePlan plan)
    {
        var overrides = ParseAssignments(parse.GetValue(Params) ?? []);
        double temperature = Generation(parse).Temperature;
        if (temperature > 0 && plan.FindParam("temperature") is { Runtime: true } && !overrides.ContainsKey("temperature"))
            overrides["temperature"] = temperature.ToString("R", CultureInfo.InvariantCulture);
        _ = new ParamValues(plan, overrides); // throws ArgumentException naming the parameter and what it accepts
        return overrides;
    }

    private static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    /// <summary>--dtype: null for auto, else the activation dtype (null within: auto) and the weight quantization.</summary>
    public static ModelPrecision? ParsePrecision(string? value)
    {
        string v = (value ?? "auto").ToLowerInvariant();
        const string Expected = "expected auto, f32, bf16, int8, int4 or int4-g32/-g64/-g128/-g256";
        switch (v)
        {
            case "auto": return null;
            case "f32" or "float32": return new ModelPrecision(ScalarType.Float32);
            case "bf16" or "bfloat16": return new ModelPrecision(ScalarType.BFloat16);
            case "int8": return new ModelPrecision(null, WeightQuantization.Int8);
            case "int4": return new ModelPrecision(null, WeightQuantization.Int4());
        }
        if (v.StartsWith("int4-g", StringComparison.Ordinal) && int.TryParse(v["int4-g".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int group))
        {
            if (!WeightQuantization.Int4GroupSizes.Contains(group))
                throw new CliException($"--dtype {value}: libtorch's int4 CPU kernel takes groups of {string.Join(", ", WeightQuantization.Int4GroupSizes)}");
            return new ModelPrecision(null, WeightQuantization.Int4(group));
        }
        throw new CliException($"--dtype {value}: {Expected}");
    }

    public static Dictionary<string, string> ParseAssignments(IEnumerable<string> assignments)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string a in assignments)
        {
            int eq = a.IndexOf('=');
            if (eq <= 0 || eq == a.Length - 1) throw new CliException($"--param '{a}': expected name=value, e.g. --param gamma=4");
            result[a[..eq].Trim()] = a[(eq + 1)..].Trim();
        }
        return result;
    }

    /// <summary>
    /// The decoder: the generated one for a library strategy unless the interpreter is asked for, or a build-time
    /// parameter is overridden (the generated code folded it), in which case the interpreter runs and a note says why.
    /// </summary>
    public static IDecoder CreateDecoder(ResolvedStrategy strategy, Engine? engine, ModelSet models,
                                         IReadOnlyDictionary<string, string> parameters, int maxLength, TextWriter notes)
    {
        var plan = strategy.Plan;
        if (strategy.Generated is { } generated && engine != Engine.Interpreted)
        {
            var buildTime = parameters.Keys.Where(k => plan.FindParam(k) is { Runtime: false }).ToArray();
            if (buildTime.Length == 0) return generated.Create(models, parameters.Count == 0 ? null : parameters, maxLength);
            notes.WriteLine($"note: {string.Join(", ", buildTime.Select(p => $"'{p}'"))} of {plan.Name} is fixed at build time in the generated decoder; running the interpreter instead.");
        }
        else if (strategy.Generated is null && engine == Engine.Generated)
        {
            notes.WriteLine($"note: {strategy.Source} is not compiled into this build; running it with the interpreter.");
        }
        return PlanInterpreter.Create(plan, models, parameters.Count == 0 ? null : parameters, maxLength);
    }

    /// <summary>KV cache length: prompt + budget + the widest verified tree, within the model's positions.</summary>
    public static int MaxLength(DecodePlan plan, int promptTokens, int maxNewTokens, int maxPositions)
    {
        int width = plan.Step is CausalStepPlan causal ? causal.Verify.Width + 1 : 64;
        int wanted = promptTokens + maxNewTokens + width + 8;
        if (promptTokens + 1 >= maxPositions)
            throw new CliException($"the prompt is {promptTokens} tokens; the model takes at most {maxPositions} positions");
        return Math.Min(wanted, maxPositions);
    }

    private static string Kebab(string? name) => name switch
    {
        "MaxNewTokens" => "max-tokens",
        "TopK" => "top-k",
        "TopP" => "top-p",
        null => "option",
        _ => name.ToLowerInvariant(),
    };
}
