using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Training;

public static class Program
{
    public static int Main(string[] args)
    {
        try
        {
            // One core: the machine is shared, and two threads on two busy cores ran 5-30x slower (ENVIRONMENT.md).
            torch.set_num_threads(1);
            var options = Options.Parse(args);
            if (options.Kind == "eval") RunEval(options);
            else if (options.Kind == "bars") DiffusionBars.Run(options);
            else RunTraining(options);
            return 0;
        }
        catch (Exception e) when (e is TrainingException or ModelLoadException)
        {
            // Messages lead with the file at fault; a stack trace would only hide it.
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }

    /// <summary>Everything the training kinds share: tokenizer, corpora, the model or heads, the loop, the outputs.</summary>
    public static void RunTraining(Options o)
    {
        var clock = Stopwatch.StartNew();
        string tokenizerPath = o.TokenizerPath();
        var tokenizer = TokenizerFile.Load(tokenizerPath);
        var special = SpecialIds.From(tokenizer, tokenizerPath);
        string corpusPath = o.String("corpus"), validPath = o.String("valid"), outDir = o.String("out");
        string? slicePath = o.OptionalString("eval-slice");
        int seed = o.Int("seed", 1);
        var settings = new LoopSettings
        {
            Seed = seed,
            Batch = o.Int("batch", 16),
            LearningRate = o.Double("lr", 2e-3),
            Warmup = o.Int("warmup", 50),
            MinLrRatio = o.Double("min-lr", 0.1),
            Clip = o.Double("clip", 1.0),
            WeightDecay = o.Double("weight-decay", 0.01),
            CheckpointEvery = o.Int("checkpoint-every", 200),
            Steps = o.OptionalInt("steps"),
            Minutes = o.OptionalDouble("minutes"),
            Resume = o.Flag("resume"),
            StopAfter = o.OptionalInt("stop-after"),
        };
        if ((settings.Steps is null) == (settings.Minutes is null))
            throw new TrainingException("give exactly one of --steps N or --minutes M");
        if (settings.Steps == 0 || settings.Minutes == 0)
            throw new TrainingException("--steps / --minutes must be positive");
        int validTokens = o.Int("valid-tokens", 65536);
        int sliceTokens = o.Int("slice-tokens", SliceTokens);

        // Fail on a bad corpus before any model is built: the cheapest error first.
        var train = Corpus.LoadTokens(corpusPath, tokenizer, tokenizerPath, special.Bos, special.Eos);
        var valid = Corpus.LoadTokens(validPath, tokenizer, tokenizerPath, special.Bos, special.Eos);
        int[]? slice = slicePath is null ? null : Corpus.LoadTokens(slicePath, tokenizer, tokenizerPath, special.Bos, special.Eos);
        Console.Error.WriteLine($"corpus {corpusPath}: {train.Length:N0} tokens; valid {validPath}: {valid.Length:N0} tokens");

        torch.manual_seed(seed);
        var result = new JsonObject
        {
            ["kind"] = o.Kind,
            ["command"] = "dotnet run -c Release --project src/Training -- " + string.Join(' ', o.RawArgs.Select(Quote)),
            ["seed"] = seed,
            ["corpus"] = corpusPath,
            ["corpus_tokens"] = train.Length,
            ["tokenizer"] = new JsonObject { ["vocab_size"] = TokenizerFile.VocabularySize(tokenizer), ["bos"] = special.Bos, ["eos"] = special.Eos, ["pad"] = special.Pad, ["mask"] = special.Mask },
        };

        if (o.Kind == "medusa")
        {
            string targetDir = o.String("target");
            int headCount = o.Int("heads", 4);
            int context = o.Int("context", 256);
            o.RejectUnused();
            using var target = ModelIO.LoadHf(targetDir, ScalarType.Float32);
            TokenizerFile.CheckMatches(tokenizer, tokenizerPath, target.Config.VocabSize, Path.Combine(targetDir, "config.json"));
            foreach (var p in target.parameters()) p.requires_grad = false;
            var lmHead = ModelIO.LmHeadWeight(target);
            using var heads = NewMedusaHeads(headCount, target.Config);
            var loop = new Trainer(new MedusaObjective(target, heads, lmHead, context), train, settings, outDir).Run();
            if (Stopped(loop, outDir)) return;

            var acc = Evaluation.MedusaAccuracy(target, heads, lmHead, valid, context, validTokens);
            SaveMedusa(heads, outDir, targetDir, target.Config);
            // Re-measure from the files just written (bf16 heads), the way a user and the tests will load them.
            using var reloaded = LoadMedusa(outDir, target.Config);
            var accSaved = Evaluation.MedusaAccuracy(target, reloaded, lmHead, valid, context, validTokens);
            AddLoop(result, loop, settings, context, ModelIO.ParameterCount(heads));
            result["target"] = targetDir;
            result["heads"] = headCount;
            result["valid_head_top1"] = new JsonArray(accSaved.Select(a => (JsonNode)Math.Round(a, 4)).ToArray());
            result["valid_head_top1_f32"] = new JsonArray(acc.Select(a => (JsonNode)Math.Round(a, 4)).ToArray());
            if (slice is not null)
                result["slice"] = new JsonObject
                {
                    ["file"] = slicePath, ["tokens"] = sliceTokens,
                    ["head_top1"] = new JsonArray(Evaluation.MedusaAccuracy(target, reloaded, lmHead, slice, context, sliceTokens)
                                                  .Select(a => (JsonNode)Math.Round(a, 4)).ToArray()),
                };
            WriteResult(outDir, result, clock);
            Console.Error.WriteLine($"valid head top-1: {string.Join(", ", accSaved.Select(a => a.ToString("F3", CultureInfo.InvariantCulture)))}");
            return;
        }

        bool masked = o.Kind == "masked";
        string? initDir = o.OptionalString("init");
        var config = BuildConfig(o, tokenizer, tokenizerPath, special, masked, initDir);
        o.RejectUnused();
        int ctx = config.MaxPositionEmbeddings;
        using var model = CausalLM.CreateRandom(config, CPU, ScalarType.Float32, seed);
        if (initDir is not null)
        {
            // Adaptation (Dream, DiffuLLaMA): start from a trained model's weights instead of random ones. The shipped
            // weights are bf16; training continues in f32 from their exact values.
            ModelIO.LoadInto(model.named_parameters(), Path.Combine(initDir, "model.safetensors"));
            result["init"] = initDir;
        }
        IObjective objective = masked
            ? new MaskedDiffusionObjective(model, ctx, special.Mask, seed, config.ShiftedLogits)
            : new CausalObjective(model, ctx);
        Console.Error.WriteLine($"{o.Kind} model: {ModelIO.ParameterCount(model):N0} parameters, context {ctx}" +
                                (initDir is null ? "" : $", initialised from {initDir}") + (config.ShiftedLogits ? ", shifted logits" : ""));
        // Every checkpoint also leaves a loadable model (checkpoint/model, bf16), so a run cut off mid-way still
        // has something to evaluate or ship.
        var run = new Trainer(objective, train, settings, outDir,
                              exportTo: dir => ModelIO.SaveHf(model, dir, tokenizerPath, special.Pad)).Run();
        if (Stopped(run, outDir)) return;

        ModelIO.SaveHf(model, outDir, tokenizerPath, special.Pad);
        // Validation is measured on the shipped bf16 weights, loaded back from disk exactly as the tests load them.
        using var saved = ModelIO.LoadHf(outDir, ScalarType.Float32);
        var (validNll, validCount) = Measure(saved, valid, ctx, validTokens, masked, special.Mask);
        AddLoop(result, run, settings, ctx, ModelIO.ParameterCount(model));
        result["valid_tokens"] = validCount;
        result["valid_loss"] = Math.Round(validNll, 5);
        result["valid_ppl"] = Math.Round(Math.Exp(validNll), 4);
        if (masked) result["valid_metric"] = "LLaDA bound: mean over t in {0.05..0.95} of (1/t) * masked CE per token";
        if (slice is not null)
        {
            var (sliceNll, sliceCount) = Measure(saved, slice, ctx, sliceTokens, masked, special.Mask);
            result["slice"] = new JsonObject
            {
                ["file"] = slicePath, ["tokens"] = sliceTokens, ["predicted_tokens"] = sliceCount,
                ["loss"] = Math.Round(sliceNll, 5), ["ppl"] = Math.Round(Math.Exp(sliceNll), 4),
            };
        }
        WriteResult(outDir, result, clock);
        Console.Error.WriteLine($"valid loss {validNll:F4}  ppl {Math.Exp(validNll):F2}  ({validCount:N0} tokens)");
    }

    private static bool Stopped(LoopResult loop, string outDir)
    {
        if (!loop.Interrupted) return false;
        Console.Error.WriteLine($"stopped at step {loop.Steps} (--stop-after); continue with --resume (checkpoint in {Path.Combine(outDir, "checkpoint")})");
        return true;
    }

    /// <summary>The fixed slice the tests re-measure: the first 2048 tokens of models/eval/*.valid.txt.</summary>
    public const int SliceTokens = 2048;

    public static (double Nll, long Tokens) Measure(ICausalLM model, int[] tokens, int context, int maxTokens, bool masked, int maskId) =>
        masked ? Evaluation.MaskedNll(model, tokens, context, maxTokens, maskId)
               : Evaluation.CausalNll(model, tokens, context, maxTokens);

    /// <summary>
    /// A Llama config from --init (the initial model's own config.json), --config (file or inline JSON) or the shape
    /// options; vocab from the tokenizer. --shift-logits 1 makes logits row i predict token i + 1 (masked only).
    /// </summary>
    private static ModelConfig BuildConfig(Options o, SentencePieceTokenizer tokenizer, string tokenizerPath, SpecialIds special, bool masked, string? initDir)
    {
        int vocab = TokenizerFile.VocabularySize(tokenizer);
        var configArg = o.OptionalString("config");
        bool shift = o.Int("shift-logits", 0) != 0;
        if (shift && !masked) throw new TrainingException("--shift-logits applies to 'masked' only (a causal LM's logits are always shifted)");
        ModelConfig config;
        if (initDir is not null)
        {
            if (configArg is not null) throw new TrainingException("give --init DIR or --config, not both (--init takes the shape from DIR/config.json)");
            var initConfig = Path.Combine(initDir, "config.json");
            if (!File.Exists(initConfig)) throw new TrainingException($"{initConfig}: --init needs a model directory with a config.json");
            config = ModelConfig.Load(initConfig);
            TokenizerFile.CheckMatches(tokenizer, tokenizerPath, config.VocabSize, initConfig);
        }
        else if (configArg is not null)
        {
            bool inline = configArg.TrimStart().StartsWith('{');
            if (!inline && !File.Exists(configArg)) throw new TrainingException($"{configArg}: config file not found");
            config = ModelConfig.Parse(inline ? configArg : File.ReadAllText(configArg), inline ? "--config" : configArg);
            TokenizerFile.CheckMatches(tokenizer, tokenizerPath, config.VocabSize, inline ? "--config" : configArg);
        }
        else
        {
            int hidden = o.Int("hidden", 256), heads = o.Int("heads", 8);
            config = new ModelConfig
            {
                ModelType = "llama",
                VocabSize = vocab,
                HiddenSize = hidden,
                IntermediateSize = o.Int("intermediate", 688),
                NumHiddenLayers = o.Int("layers", 4),
                NumAttentionHeads = heads,
                NumKeyValueHeads = o.Int("kv-heads", 4),
                HeadDim = hidden / Math.Max(heads, 1),
                NormEps = 1e-5,
                RopeTheta = 10000,
                MaxPositionEmbeddings = o.Int("context", 256),
                TieWordEmbeddings = o.Int("tie", 0) != 0,
            };
        }
        config = config with
        {
            BosTokenId = special.Bos,
            EosTokenIds = [special.Eos],
            MaskTokenId = masked ? special.Mask : null,
            ShiftedLogits = shift,
        };
        config.Validate("--config");
        return config;
    }

    private static void AddLoop(JsonObject result, LoopResult loop, LoopSettings s, int context, long parameters)
    {
        result["parameters"] = parameters;
        result["steps"] = loop.Steps;
        result["batch"] = s.Batch;
        result["context"] = context;
        result["tokens_seen"] = loop.TokensSeen;
        result["train_wall_seconds"] = Math.Round(loop.WallSeconds, 1);
        result["final_train_loss"] = Math.Round(loop.FinalTrainLoss, 4);
        result["optimizer"] = new JsonObject
        {
            ["name"] = "AdamW", ["lr"] = s.LearningRate, ["warmup"] = s.Warmup, ["min_lr_ratio"] = s.MinLrRatio,
            ["clip"] = s.Clip, ["weight_decay"] = s.WeightDecay, ["schedule"] = "linear warmup + cosine",
        };
        if (s.Minutes is not null)
            result["reproduce_with"] = $"--steps {loop.Steps} in place of --minutes {s.Minutes.Value.ToString(CultureInfo.InvariantCulture)}";
    }

    private static void WriteResult(string outDir, JsonObject result, Stopwatch clock)
    {
        result["total_wall_seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
        result["torch_threads"] = 1;
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "training.json"),
                          result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>
    /// Fresh Medusa-1 heads (the runtime's module) sharing the target's LM head. The residual blocks start at zero, as
    /// in Medusa, so every head starts out as the target's own next-token guess.
    /// </summary>
    public static MedusaHeads NewMedusaHeads(int count, ModelConfig target)
    {
        var heads = new MedusaHeads(count, target.HiddenSize, target.VocabSize, sharedLmHead: true);
        using var _ = torch.no_grad();
        foreach (var p in heads.parameters()) p.zero_();
        return heads;
    }

    public static void SaveMedusa(MedusaHeads heads, string outDir, string targetDir, ModelConfig target)
    {
        heads.Save(outDir, target.VocabSize, ScalarType.BFloat16);
        // The runtime's config, plus where the base model is and what each head predicts.
        var rel = Path.GetRelativePath(Path.GetFullPath(outDir), Path.GetFullPath(targetDir));
        var config = new JsonObject
        {
            ["medusa_num_heads"] = heads.Count,
            ["medusa_num_layers"] = 1,
            ["hidden_size"] = target.HiddenSize,
            ["vocab_size"] = target.VocabSize,
            ["base_model_name_or_path"] = rel,
            // No medusa_head.{k}.1.weight: every head projects with the base model's (frozen) lm_head.
            ["shared_lm_head"] = true,
            ["head_k_predicts"] = "token at offset k+2 from the last input token (the base model predicts offset 1)",
            ["torch_dtype"] = "bfloat16",
        };
        File.WriteAllText(Path.Combine(outDir, MedusaHeads.ConfigFile),
                          config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    public static MedusaHeads LoadMedusa(string dir, ModelConfig target) => MedusaHeads.Load(dir, target, CPU, ScalarType.Float32);

    /// <summary><c>eval --model DIR --valid FILE [--draft DIR] [--medusa DIR]</c>: the model card's numbers, as JSON.</summary>
    public static void RunEval(Options o)
    {
        string modelDir = o.String("model"), validPath = o.String("valid");
        string? draftDir = o.OptionalString("draft"), medusaDir = o.OptionalString("medusa");
        int maxTokens = o.Int("tokens", SliceTokens);
        string? prompt = o.OptionalString("prompt");
        int newTokens = o.Int("new-tokens", 60);
        o.RejectUnused();
        using var model = ModelIO.LoadHf(modelDir, ScalarType.Float32);
        string tokenizerPath = Path.Combine(modelDir, "tokenizer.model");
        var tokenizer = TokenizerFile.Load(tokenizerPath);
        TokenizerFile.CheckMatches(tokenizer, tokenizerPath, model.Config.VocabSize, Path.Combine(modelDir, "config.json"));
        var special = SpecialIds.From(tokenizer, tokenizerPath);
        var tokens = Corpus.LoadTokens(validPath, tokenizer, tokenizerPath, special.Bos, special.Eos);
        int ctx = model.Config.MaxPositionEmbeddings;
        bool masked = model.Config.MaskTokenId is not null;
        var (nll, count) = Measure(model, tokens, ctx, maxTokens, masked, special.Mask);
        var result = new JsonObject
        {
            ["model"] = modelDir, ["file"] = validPath, ["tokens"] = maxTokens, ["predicted_tokens"] = count,
            ["loss"] = Math.Round(nll, 5), ["ppl"] = Math.Round(Math.Exp(nll), 4),
            ["parameters"] = ModelIO.ParameterCount(model),
        };
        if (draftDir is not null)
        {
            using var draft = ModelIO.LoadHf(draftDir, ScalarType.Float32);
            result["draft_parameters"] = ModelIO.ParameterCount(draft);
            result["draft_top1_agreement"] = Math.Round(Evaluation.GreedyAgreement(draft, model, tokens, ctx, maxTokens), 4);
        }
        if (medusaDir is not null)
        {
            using var heads = LoadMedusa(medusaDir, model.Config);
            result["medusa_head_top1"] = new JsonArray(Evaluation.MedusaAccuracy(model, heads, ModelIO.LmHeadWeight(model), tokens, ctx, maxTokens)
                                                       .Select(a => (JsonNode)Math.Round(a, 4)).ToArray());
        }
        if (prompt is not null && !masked)
        {
            var ids = new List<int> { special.Bos };
            ids.AddRange(tokenizer.EncodeToIds(prompt.Replace("\\n", "\n"), addBeginningOfSentence: false, addEndOfSentence: false));
            result["greedy"] = tokenizer.Decode(Continue(model, ids, newTokens, special.Eos, null, 0));
            result["sample_t0.8_seed1"] = tokenizer.Decode(Continue(model, ids, newTokens, special.Eos, new Generator(1), 0.8));
        }
        Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }

    /// <summary>
    /// A plain full-recompute continuation, only for eyeballing a model's text in the model card (the runtime's
    /// decoders are the real thing): greedy when <paramref name="generator"/> is null, else seeded sampling.
    /// </summary>
    private static List<int> Continue(ICausalLM model, List<int> prompt, int count, int eos, Generator? generator, double temperature)
    {
        var ids = new List<int>(prompt);
        int ctx = model.Config.MaxPositionEmbeddings;
        using var _ = no_grad();
        for (int i = 0; i < count; i++)
        {
            using var scope = NewDisposeScope();
            var window = ids.Skip(Math.Max(0, ids.Count - ctx)).Select(v => (long)v).ToArray();
            long n = window.Length;
            using var output = model.Forward(tensor(window, [1, n], ScalarType.Int64), Batches.Positions(1, n), Batches.CausalMask(n), null);
            var last = output.Logits[0, n - 1];
            int next = generator is null
                ? (int)last.argmax().item<long>()
                : (int)multinomial(softmax(last / temperature, 0), 1, generator: generator).item<long>();
            if (next == eos) break;
            ids.Add(next);
        }
        return ids.Skip(prompt.Count).ToList();
    }

    private static string Quote(string arg) => arg.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'' or '{' or '}') ? $"'{arg}'" : arg;
}

/// <summary>The tokenizer's special ids; <c>&lt;mask&gt;</c> is a user-defined piece reserved for the diffusion LM.</summary>
public readonly record struct SpecialIds(int Bos, int Eos, int Pad, int Mask)
{
    public static SpecialIds From(SentencePieceTokenizer tokenizer, string path)
    {
        var vocab = tokenizer.Vocabulary;
        int Get(string piece) => vocab.TryGetValue(piece, out int id)
            ? id : throw new TrainingException($"{path}: tokenizer has no '{piece}' piece (build it with tools/build_corpus.sh)");
        return new SpecialIds(tokenizer.BeginningOfSentenceId, tokenizer.EndOfSentenceId, Get("<pad>"), Get("<mask>"));
    }
}
