using System.Text.Json;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Constraints.Tests;

/// <summary>The shipped English target, draft and Medusa heads in f32, loaded once for the decoding tests.</summary>
public sealed class ShippedModels : IDisposable
{
    public ShippedModels()
    {
        torch.set_num_threads(1);
        Target = PretrainedModel.Load(Shipped.English("target"), CPU, ScalarType.Float32, requireTokenizer: true);
        Draft = PretrainedModel.Load(Shipped.English("draft"), CPU, ScalarType.Float32);
        Heads = MedusaHeads.Load(Path.Combine(Shipped.RepoRoot(), "models", "english", "medusa"), Target.Config, CPU, ScalarType.Float32);
        Set = new ModelSet().Add("target", Target.Model).Add("draft", Draft.Model).Add("heads", Heads);
        Prompts = File.ReadLines(Path.Combine(Shipped.RepoRoot(), "models", "eval", "prompts.english.jsonl"))
            .Take(3).Select(l => Target.Tokenizer!.Encode(JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!, addBos: true))
            .Select(p => p.Length > 48 ? p[^48..] : p).ToArray();
    }

    public PretrainedModel Target { get; }
    public PretrainedModel Draft { get; }
    public MedusaHeads Heads { get; }
    public ModelSet Set { get; }
    public int[][] Prompts { get; }

    public void Dispose()
    {
        Heads.Dispose();
        Draft.Dispose();
        Target.Dispose();
    }
}
