using Pardec.Runtime.Decoding;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Runtime.Tokenization;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

// Leak checks read process-wide tensor counts: no other test may create tensors meanwhile.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Pardec.Apps.Tests;

/// <summary>
/// What an app does: a model directory in Hugging Face layout (config.json + model.safetensors + tokenizer.model),
/// loaded once. Here the weights are seeded random (a tiny Llama over the 400-piece SentencePiece fixture), saved with
/// <see cref="PretrainedModel.Save"/> to a temp directory and loaded back the way an app loads a shipped model.
/// </summary>
public sealed class AppModels : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "pardec-apps-" + Guid.NewGuid().ToString("N"));
    private readonly string _draftDirectory;

    public AppModels()
    {
        torch.set_num_threads(1);
        _draftDirectory = _directory + "-draft";
        string fixture = Path.Combine(AppContext.BaseDirectory, "Fixtures", "spm");
        Save(seed: 21, layers: 2, _directory, fixture);
        Save(seed: 22, layers: 1, _draftDirectory, fixture);
        Target = PretrainedModel.Load(_directory, CPU, requireTokenizer: true);
        Draft = PretrainedModel.Load(_draftDirectory, CPU);
        Target.Model.eval();
        Draft.Model.eval();
        Tokenizer = Target.Tokenizer ?? throw new InvalidOperationException("the saved model has no tokenizer");
    }

    public PretrainedModel Target { get; }
    public PretrainedModel Draft { get; }
    public TextTokenizer Tokenizer { get; }

    public static ModelConfig Config(int layers) => new()
    {
        ModelType = "llama",
        VocabSize = 400,
        HiddenSize = 64,
        IntermediateSize = 128,
        NumHiddenLayers = layers,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        HeadDim = 16,
        MaxPositionEmbeddings = 2048,
        BosTokenId = 1,
        EosTokenIds = [2],
    };

    private static void Save(long seed, int layers, string directory, string tokenizerDirectory)
    {
        // A large init std makes argmax decisive and the text repetitive, like a real LM's (prompt lookup then accepts).
        using var model = CausalLM.CreateRandom(Config(layers), CPU, ScalarType.Float32, seed, 0.2);
        PretrainedModel.Save(model, directory, ScalarType.Float32, tokenizerDirectory);
    }

    /// <summary>
    /// Live native tensors in the process. Collects garbage only before the baseline (so an earlier test's garbage is not
    /// finalised mid-test); the reading after a test is taken without it, so a tensor left for a finaliser counts as a leak.
    /// </summary>
    public static long LiveTensors(bool collectFirst)
    {
        if (collectFirst)
            for (int i = 0; i < 2; i++) { GC.Collect(); GC.WaitForPendingFinalizers(); }
        return torch.Tensor.TotalCount;
    }

    public static long Baseline() => LiveTensors(collectFirst: true);

    public static long Live() => LiveTensors(collectFirst: false);

    public static GenerationOptions Greedy(int maxNew) => new() { MaxNewTokens = maxNew };

    public void Dispose()
    {
        Target.Dispose();
        Draft.Dispose();
        foreach (var d in new[] { _directory, _draftDirectory })
            try { Directory.Delete(d, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(nameof(AppCollection))]
public sealed class AppCollection : ICollectionFixture<AppModels> { }

/// <summary>An <see cref="IDecoder"/> that forwards to another and reports each step (to cancel at an exact step).</summary>
internal sealed class SteppingDecoder(IDecoder inner, Action<int> onStep) : IDecoder
{
    public string Strategy => inner.Strategy;
    public string PlanText => inner.PlanText;

    public DecodeResult Generate(ReadOnlySpan<int> prompt, GenerationOptions options, IDecodeObserver? observer = null,
                                 CancellationToken cancellationToken = default) =>
        inner.Generate(prompt, options, new Observer(observer, onStep), cancellationToken);

    public void Dispose() => inner.Dispose();

    private sealed class Observer(IDecodeObserver? inner, Action<int> onStep) : IDecodeObserver
    {
        public bool OnStep(in DecodeStepView step)
        {
            onStep(step.Step);
            return inner?.OnStep(step) ?? true;
        }
    }
}
