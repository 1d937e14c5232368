using System.Globalization;
using System.Text.Json;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Strategies;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

/// <summary>
/// <c>pad-export</c>: writes the padded target that <c>strategies --pad-layers N --pad-mlp M</c> builds in memory as a
/// Hugging Face directory (f32 safetensors, config.json, tokenizer.model), so a peer engine (llama.cpp, see
/// benchmarks/peer) converts and runs exactly the same model. It then loads the directory back and checks that its
/// greedy tokens equal the shipped target's on the benchmark's prompts, and writes <c>reference.&lt;N&gt;.json</c> beside it:
/// per prompt, the token ids the strategy benchmark feeds (same truncation) and the greedy continuation, which the peer
/// script compares with the peer's tokenization and plain output (the f32 and the bf16 greedy continuations).
/// </summary>
public static class PeerExport
{
    private const string Usage = """
        dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- pad-export --out DIR [options]
          --domain english|code      shipped model family and prompt set (default english)
          --pad-layers N --pad-mlp M  padding as in `strategies` (0 0 exports the shipped target in f32)
          --max-tokens N[,N...]      tokens per prompt for the reference continuations (default 48): one
                                     reference.<N>.json per value
          --prompts K                prompts from models/eval/prompts.<domain>.jsonl (default 3)
          --keep-bos                 truncate prompts as `strategies --keep-bos` does
          --prompt-set in|ood        the prompts of `strategies --prompt-set` (ood: benchmarks/prompts/english-ood.jsonl);
                                     ood writes reference.<N>.ood.json
          --reference-only           keep the exported directory as it is (its GGUF conversions stay current) and
                                     write only the references
        """;

    public static int Run(string[] args)
    {
        string domain = "english", @out = "";
        int padLayers = 0, padMlp = 0, promptCount = 3;
        bool keepBos = false, referenceOnly = false;
        string promptSet = "in";
        int[] maxTokensList = [48];
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--domain": domain = Next(); break;
                case "--pad-layers": padLayers = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--pad-mlp": padMlp = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--max-tokens": maxTokensList = Next().Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--prompts": promptCount = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--out": @out = Next(); break;
                case "--keep-bos": keepBos = true; break;
                case "--prompt-set": promptSet = Next(); break;
                case "--reference-only": referenceOnly = true; break;
                default: Console.WriteLine(Usage); return 2;
            }
        }
        if (@out.Length == 0) { Console.WriteLine(Usage); return 2; }
        set_num_threads(1);

        string root = StrategyBenchmark.RepoRoot();
        string source = Path.Combine(root, "models", domain, "target");
        using var shipped = PretrainedModel.Load(source, CPU, ScalarType.Float32, requireTokenizer: true);
        var tokenizer = shipped.Tokenizer!;
        if (!referenceOnly || !File.Exists(Path.Combine(@out, "model.safetensors")))
        using (var padded = PaddedModel.Pad(shipped.Model, padLayers, Math.Max(padMlp, shipped.Config.IntermediateSize)))
        {
            PretrainedModel.Save(padded, @out, ScalarType.Float32, source);
            Console.WriteLine($"wrote {@out}: {PaddedModel.Parameters(padded):N0} parameters, {padded.Config.NumHiddenLayers} layers, MLP {padded.Config.IntermediateSize}, f32");
        }

        using var exported = PretrainedModel.Load(@out, CPU, ScalarType.Float32, requireTokenizer: true);
        string promptFile = promptSet switch
        {
            "in" => Path.Combine(root, "models", "eval", $"prompts.{domain}.jsonl"),
            "ood" when domain == "english" => Path.Combine(root, "benchmarks", "prompts", "english-ood.jsonl"),
            _ => throw new ArgumentException($"--prompt-set {promptSet}: expected in, or ood for english"),
        };
        var texts = File.ReadLines(promptFile)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!).Take(promptCount).ToArray();
        var greedy = GeneratedStrategies.All.Single(s => s.Name == "Greedy");
        bool allIdentical = true;
        foreach (int maxTokens in maxTokensList)
        {
            // The same prompts and truncation as StrategyBenchmark.
            int room = shipped.Config.MaxPositionEmbeddings - maxTokens - 80;
            var prompts = texts.Select(t => tokenizer.Encode(t, addBos: true)).Select(p => StrategyBenchmark.Truncate(p, room, keepBos ? tokenizer : null)).ToArray();
            var options = new GenerationOptions { MaxNewTokens = maxTokens, StopOnEos = false };
            int[][] Decode(CausalLMBase model)
            {
                using var decoder = greedy.Create(new ModelSet().Add("target", model), null, 512);
                return prompts.Select(p => decoder.Generate(p, options).Tokens.ToArray()).ToArray();
            }
            var fromShipped = Decode(shipped.Model);
            // The bf16 comparison's reference: the shipped weights are bf16, so this is the trained model run natively.
            int[][] fromShippedBf16;
            using (var bf16 = PretrainedModel.Load(source, CPU, ScalarType.BFloat16)) fromShippedBf16 = Decode(bf16.Model);
            var fromExport = Decode(exported.Model);
            bool identical = fromShipped.Zip(fromExport).All(p => p.First.SequenceEqual(p.Second));
            allIdentical &= identical;
            Console.WriteLine(identical
                ? $"exported model reproduces the shipped target's greedy tokens on {prompts.Length} prompts x {maxTokens} tokens"
                : $"MISMATCH: the exported model's greedy tokens differ from the shipped target's ({maxTokens} tokens)");

            var reference = new
            {
                domain, promptSet, maxTokens, padLayers, padMlp, keepBos, parameters = PaddedModel.Parameters(exported.Model), identicalToShipped = identical,
                prompts = prompts.Select((p, i) => new
                {
                    text = texts[i], truncated = p.Length < tokenizer.Encode(texts[i], addBos: true).Length,
                    promptIds = p, promptText = tokenizer.Decode(p), tailText = StrategyBenchmark.TailText(tokenizer, p),
                    greedyIds = fromShipped[i], greedyText = tokenizer.Decode(fromShipped[i]),
                    greedyIdsBf16 = fromShippedBf16[i], greedyTextBf16 = tokenizer.Decode(fromShippedBf16[i]),
                }),
            };
            File.WriteAllText(Path.Combine(@out, $"reference.{maxTokens}{(promptSet == "ood" ? ".ood" : "")}.json"), JsonSerializer.Serialize(reference, new JsonSerializerOptions { WriteIndented = true }));
        }
        return allIdentical ? 0 : 1;
    }
}
