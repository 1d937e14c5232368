using Pardec.Dsl.Plan;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Runtime.Quantization;
using Pardec.Runtime.Tokenization;
using static TorchSharp.torch;

namespace Pardec.Cli.Models;

/// <summary>Which directory serves which kind of role; null means the shipped default for the task.</summary>
public sealed record ModelPaths(string Root, string Task = ModelLocator.DefaultTask, string? Model = null, string? Draft = null, string? Heads = null)
{
    public string Target => Model ?? ModelLocator.Shipped(Root, Task, "target");
    public string DraftDir => Draft ?? ModelLocator.Shipped(Root, Task, "draft");
    public string HeadsDir => Heads ?? ModelLocator.Shipped(Root, Task, "medusa");
    public string Diffusion => Model ?? ModelLocator.Shipped(Root, Task, "diffusion");
}

/// <summary>
/// Loads the models a plan's roles need, by role kind: the verified causal role from <c>--model</c>, every other
/// causal role from <c>--draft</c>, Medusa roles from <c>--heads</c> (attached to their target), masked roles from
/// <c>--model</c> (default: the diffusion model). Self roles reuse their target. A directory is loaded once and
/// shared between plans (a bench binds many strategies to the same target).
/// </summary>
public sealed class ModelBinding : IDisposable
{
    private readonly Dictionary<string, PretrainedModel> _models = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MedusaHeads> _heads = new(StringComparer.Ordinal);

    private readonly TextWriter? _progress;

    /// <param name="dtype">null: each directory in the dtype <see cref="AutoDType.For"/> picks for it.</param>
    /// <param name="progress">Where to report loading progress of large checkpoints (the CLI's stderr), or null.</param>
    public ModelBinding(ModelPaths paths, Device device, ScalarType? dtype, TextWriter? progress = null)
        : this(paths, device, dtype is { } d ? new ModelPrecision(d) : null, progress)
    {
    }

    /// <param name="precision">Activation dtype (null: <see cref="AutoDType.For"/> per directory) and weight quantization
    /// (int8 / int4, applied to every model loaded); null: auto, float weights.</param>
    public ModelBinding(ModelPaths paths, Device device, ModelPrecision? precision, TextWriter? progress = null)
    {
        Paths = paths;
        Device = device;
        DType = precision?.DType;
        Quantization = precision?.Quantization;
        _progress = progress;
    }

    public ModelPaths Paths { get; }
    public Device Device { get; }
    public ScalarType? DType { get; }
    public WeightQuantization? Quantization { get; }

    /// <summary>Binds every role of <paramref name="plan"/>; the tokenizer is the main model's.</summary>
    public BoundModels Bind(DecodePlan plan)
    {
        var set = new ModelSet();
        string? mainRole = plan.Step is CausalStepPlan causal ? causal.Verify.Model : null;
        PretrainedModel? main = null;
        foreach (var role in plan.Models.Where(m => m.Kind is ModelKind.Causal or ModelKind.Masked))
        {
            bool isMain = role.Kind == ModelKind.Masked || role.Role == mainRole;
            string dir = role.Kind == ModelKind.Masked ? Paths.Diffusion : isMain ? Paths.Target : Paths.DraftDir;
            string option = isMain ? "--model" : "--draft";
            var model = Load(dir, role.Role, option);
            set.Add(role.Role, model.Model);
            if (isMain) main ??= model;
        }
        foreach (var role in plan.Models.Where(m => m.Kind == ModelKind.Medusa))
        {
            var target = plan.Models.FirstOrDefault(m => m.Role == role.Target) is { } t
                ? Load(t.Kind == ModelKind.Masked ? Paths.Diffusion : Paths.Target, t.Role, "--model") : throw new CliException(
                    $"strategy '{plan.Name}': Medusa role '{role.Role}' names no target role");
            set.Add(role.Role, LoadHeads(Paths.HeadsDir, role.Role, target.Model));
        }
        main ??= plan.Models.Count > 0 ? null : throw new CliException($"strategy '{plan.Name}' declares no model");
        if (main is not null)
            foreach (var role in plan.Models.Where(m => m.Kind == ModelKind.Causal && m.Role != mainRole))
                DraftCompatibility.Check(main, _models[Path.GetFullPath(Paths.DraftDir)], role.Role);
        var tokenizer = main?.Tokenizer ?? throw new CliException(
            $"the model in {main?.Directory ?? Paths.Target} has no tokenizer (expected tokenizer.json, tokenizer.model, or vocab.json + merges.txt)");
        // A strategy that declares its constraint reads the tokenizer's token bytes.
        if (plan.Constraint is { PerRequest: false }) set.Add(Runtime.Constraints.TokenVocabulary.From(tokenizer));
        return new BoundModels(set, tokenizer, main.Model);
    }

    /// <summary>True when every directory the plan's roles need exists (bench skips strategies whose models are not shipped).</summary>
    public string? MissingFor(DecodePlan plan)
    {
        string? mainRole = plan.Step is CausalStepPlan causal ? causal.Verify.Model : null;
        foreach (var role in plan.Models)
        {
            string? dir = role.Kind switch
            {
                ModelKind.Masked => Paths.Diffusion,
                ModelKind.Medusa => Paths.HeadsDir,
                ModelKind.Causal => role.Role == mainRole ? Paths.Target : Paths.DraftDir,
                _ => null,
            };
            if (dir is not null && !Directory.Exists(dir) && !File.Exists(dir)) return dir;
        }
        return null;
    }

    /// <summary>Loads (once per directory) the model for <paramref name="role"/>; a missing directory names the option to pass.</summary>
    public PretrainedModel Load(string dir, string role, string option)
    {
        string key = Path.GetFullPath(dir);
        if (_models.TryGetValue(key, out var loaded)) return loaded;
        // A GGUF file (llama.cpp's format) loads as it is stored (Q8_0 / Q4_0 onto int8 / int4) unless --dtype says otherwise.
        var model = GgufFile.IsGguf(dir)
            ? PretrainedModel.LoadGguf(dir, Device, DType ?? AutoDType.ForQuantized(Device), Quantization ?? (DType is null ? null : WeightQuantization.None), progress: LoadProgressReporter.For(_progress, dir))
            : !Directory.Exists(dir)
                ? throw new CliException($"model directory not found for role '{role}': {dir} (pass {option} DIR)")
                : PretrainedModel.Load(dir, Device, DType ?? (Quantization is { IsNone: false } ? AutoDType.ForQuantized(Device) : AutoDType.For(dir, Device)),
                                       progress: LoadProgressReporter.For(_progress, dir), quantization: Quantization);
        model.Model.eval();
        _models[key] = model;
        return model;
    }

    private MedusaHeads LoadHeads(string dir, string role, ICausalLM target)
    {
        string key = Path.GetFullPath(dir);
        if (_heads.TryGetValue(key, out var loaded)) return loaded;
        if (!Directory.Exists(dir))
            throw new CliException($"Medusa heads directory not found for role '{role}': {dir} (pass --heads DIR)");
        var heads = MedusaHeads.Load(dir, target.Config, target.Device, target.DType);
        _heads[key] = heads;
        return heads;
    }

    public void Dispose()
    {
        foreach (var h in _heads.Values) h.Dispose();
        foreach (var m in _models.Values) m.Dispose();
        _heads.Clear();
        _models.Clear();
    }
}

/// <summary>The models bound to a plan's roles, the tokenizer to talk to them in text, and the main model.</summary>
public sealed record BoundModels(ModelSet Set, TextTokenizer Tokenizer, ICausalLM Main);

/// <summary>What <c>--dtype</c> chose: the activation dtype (null: auto per directory) and the weight quantization (null: float).</summary>
public sealed record ModelPrecision(ScalarType? DType, WeightQuantization? Quantization = null)
{
    public override string ToString() => Quantization is { IsNone: false } q ? q.Name : DType is { } d ? d.ToString() : "auto";
}
