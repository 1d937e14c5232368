using Pardec.Cli.Models;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Cli.Tests;

/// <summary>
/// A model tree laid out like the shipped <c>models/</c> — english and code families (target, draft, medusa) and
/// the eval prompt sets — with seeded random tiny Llamas and the SentencePiece fixture, written once per test run.
/// </summary>
public static class TinyModelTree
{
    private static readonly Lazy<string> LazyRoot = new(Create);

    public static string Root => LazyRoot.Value;

    public static string Target => Path.Combine(Root, "english", "target");

    public static string TokenizerDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "spm");

    public static ModelConfig Config(int layers) => new()
    {
        ModelType = "llama", VocabSize = 400, HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = layers,
        NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDim = 16, MaxPositionEmbeddings = 512, BosTokenId = 1, EosTokenIds = [2],
    };

    public static string NewTempDirectory()
    {
        string dir = Path.Combine(Path.GetTempPath(), "pardec-cli-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string Create()
    {
        torch.set_num_threads(1);
        string root = NewTempDirectory();
        foreach (string family in new[] { "english", "code" })
        {
            using (var target = CausalLM.CreateRandom(Config(2), CPU, ScalarType.Float32, seed: 11, std: 0.2))
            {
                PretrainedModel.Save(target, Path.Combine(root, family, "target"), tokenizerSourceDirectory: TokenizerDirectory);
                // A different, smaller random draft: most proposals are rejected, and lossless strategies must still equal AR.
                using var draft = CausalLM.CreateRandom(Config(1), CPU, ScalarType.Float32, seed: 12, std: 0.2);
                PretrainedModel.Save(draft, Path.Combine(root, family, "draft"), tokenizerSourceDirectory: TokenizerDirectory);
            }
            using var heads = new MedusaHeads(4, 64, 400, sharedLmHead: true);
            heads.Save(Path.Combine(root, family, "medusa"), 400);
        }
        string eval = Path.Combine(root, "eval");
        Directory.CreateDirectory(eval);
        File.WriteAllLines(Path.Combine(eval, "prompts.english.jsonl"),
        [
            """{"id": "e0", "kind": "continue", "prompt": "And God said, Let there be light: and there was light."}""",
            """{"id": "e1", "kind": "continue", "prompt": "In the beginning was the Word"}""",
            """{"id": "s0", "kind": "summarize", "prompt": "The cat sat on the mat. The dog sat on the log.\n\nIn summary: The cat"}""",
        ]);
        File.WriteAllLines(Path.Combine(eval, "prompts.code.jsonl"),
            ["""{"id": "c0", "kind": "continue", "prompt": "def add(a, b):\n    return a + b\n\ndef"}"""]);
        return root;
    }
}
