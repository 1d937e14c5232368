using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pardec.Dsl;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Runtime.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Training;

/// <summary>
/// <c>bars --model DIR --causal DIR --prompts FILE[,FILE...]</c>: the three quality bars of a shipped masked-diffusion
/// LM (issue 17, item 3), measured with the library strategies themselves (run by the reference interpreter, which the
/// engine-equivalence tests hold equal to the generated decoders):
/// <list type="number">
/// <item>the most frequent token's share of <c>LladaOneByOne</c>'s output, greedy and sampled at <c>--temperature</c>;</item>
/// <item>those outputs' perplexity under the causal target, against the causal target's own T = 0.8 samples on the
/// same prompts (prompt i sampled with seed + i; plain full-recompute sampling);</item>
/// <item><c>FastDllmThreshold</c> at its default threshold: tokens committed per step and agreement with
/// <c>LladaOneByOne</c> position by position (up to the shorter output, as the diffusion benchmark counts it).</item>
/// </list>
/// Every prompt is BOS + its first <c>--prompt-tokens</c> tokens (as the diffusion benchmark cuts them); generation
/// is <c>--length</c> tokens and ends at the first EOS.
/// </summary>
public static class DiffusionBars
{
    public const string OneByOne = "LladaOneByOne";
    public const string Threshold = "FastDllmThreshold";

    public static void Run(Options o)
    {
        string modelDir = o.String("model"), causalDir = o.String("causal");
        var promptFiles = o.String("prompts").Split(',', StringSplitOptions.RemoveEmptyEntries);
        string strategiesDir = o.OptionalString("strategies") ?? "strategies";
        int promptTokens = o.Int("prompt-tokens", 48), length = o.Int("length", 64), seed = o.Int("seed", 1);
        double temperature = o.Double("temperature", 0.8);
        string? outPath = o.OptionalString("out");
        o.RejectUnused();

        using var diffusion = PretrainedModel.Load(modelDir, CPU, ScalarType.Float32, requireTokenizer: true);
        using var causal = PretrainedModel.LoadModel(causalDir, CPU, ScalarType.Float32);
        causal.eval();
        var prompts = LoadPrompts(promptFiles, diffusion.Tokenizer!, promptTokens);
        var result = new JsonObject
        {
            ["model"] = modelDir, ["causal"] = causalDir, ["prompts"] = new JsonArray(promptFiles.Select(f => (JsonNode)f).ToArray()),
            ["prompt_count"] = prompts.Length, ["prompt_tokens"] = promptTokens, ["length"] = length, ["seed"] = seed,
            ["command"] = "dotnet run -c Release --project src/Training -- " + string.Join(' ', o.RawArgs),
        };
        foreach (var (key, value) in Measure(diffusion, causal, prompts, strategiesDir, length, temperature, seed))
            result[key] = value?.DeepClone();
        string json = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        if (outPath is not null) File.WriteAllText(outPath, json + "\n");
        foreach (var line in result["summary"]!.AsArray()) Console.WriteLine(line!.GetValue<string>());
    }

    /// <summary>Every prompt of the JSONL files (<c>id</c>, <c>prompt</c>) as its first <paramref name="promptTokens"/> tokens, BOS included.</summary>
    public static (string Id, string File, int[] Ids)[] LoadPrompts(IEnumerable<string> files, TextTokenizer tokenizer, int promptTokens)
    {
        var prompts = files.SelectMany(f => File.ReadLines(f).Where(l => l.Trim().Length > 0).Select(l =>
        {
            var e = JsonDocument.Parse(l).RootElement;
            var ids = tokenizer.Encode(e.GetProperty("prompt").GetString()!, addBos: true).Take(promptTokens).ToArray();
            return (Id: e.GetProperty("id").GetString()!, File: f, Ids: ids);
        })).ToArray();
        if (prompts.Length == 0) throw new TrainingException($"{string.Join(",", files)}: no prompts");
        return prompts;
    }

    /// <summary>The bars on these prompts: aggregate figures, a <c>summary</c> (one line per bar) and <c>per_prompt</c> texts.</summary>
    public static JsonObject Measure(PretrainedModel diffusion, ICausalLM causal, (string Id, string File, int[] Ids)[] prompts,
                                     string strategiesDir, int length, double temperature, int seed)
    {
        var tokenizer = diffusion.Tokenizer!;
        int eos = diffusion.Config.EosTokenIds[0];
        var models = new ModelSet().Add("model", diffusion.Model);
        var options = new GenerationOptions { MaxNewTokens = length, StopOnEos = true };
        using var oneByOne = PlanInterpreter.Create(Plan(strategiesDir, "llada.pdec", OneByOne), models, null, 256);
        using var threshold = PlanInterpreter.Create(Plan(strategiesDir, "fast_dllm.pdec", Threshold), models, null, 256);

        var perPrompt = new JsonArray();
        var all = new List<int>();
        var allSampled = new List<int>();
        var causalSampled = new List<int>();
        var causalGreedy = new List<int>();
        double nllGreedy = 0; long nGreedy = 0;
        double nllOne = 0, nllSample = 0, nllThreshold = 0, nllOneSampled = 0; long nOne = 0, nSample = 0, nThreshold = 0, nOneSampled = 0;
        long thresholdTokens = 0, thresholdSteps = 0, agree = 0, compared = 0;
        for (int index = 0; index < prompts.Length; index++)
        {
            var (id, file, ids) = prompts[index];
            var one = oneByOne.Generate(ids, options).Tokens.ToArray();
            var fast = threshold.Generate(ids, options);
            var fastTokens = fast.Tokens.ToArray();
            var sample = Continue(causal, ids, length, eos, new Generator((ulong)(seed + index)), temperature);  // seed, seed + 1, ... per prompt
            // The same temperature for the diffusion LM (LLaDA samples each position's token; confidence = its probability).
            var oneSampled = oneByOne.Generate(ids, options with { Temperature = temperature, Seed = seed + index }).Tokens.ToArray();
            // References for the report, not bars: the causal target's own greedy text and its samples' token mix.
            var greedy = Continue(causal, ids, length, eos, null, 0);
            causalSampled.AddRange(sample);
            causalGreedy.AddRange(greedy);
            Add(ref nllGreedy, ref nGreedy, GeneratedNll(causal, ids, greedy));
            all.AddRange(one);
            allSampled.AddRange(oneSampled);
            Add(ref nllOne, ref nOne, GeneratedNll(causal, ids, one));
            Add(ref nllOneSampled, ref nOneSampled, GeneratedNll(causal, ids, oneSampled));
            Add(ref nllSample, ref nSample, GeneratedNll(causal, ids, sample));
            Add(ref nllThreshold, ref nThreshold, GeneratedNll(causal, ids, fastTokens));
            thresholdTokens += fast.Stats.Tokens;
            thresholdSteps += fast.Stats.Steps;
            int n = Math.Min(one.Length, fastTokens.Length), same = 0;
            for (int j = 0; j < n; j++) if (one[j] == fastTokens[j]) same++;
            agree += same; compared += n;
            perPrompt.Add(new JsonObject
            {
                ["id"] = id, ["file"] = file, ["prompt"] = tokenizer.Decode(ids.Skip(1)),
                ["one_by_one"] = tokenizer.Decode(one), ["one_by_one_sampled"] = tokenizer.Decode(oneSampled),
                ["fast_dllm_threshold"] = tokenizer.Decode(fastTokens), ["causal_sample"] = tokenizer.Decode(sample),
                ["causal_greedy"] = tokenizer.Decode(greedy),
                ["one_by_one_tokens"] = one.Length,
                ["threshold_tokens_per_step"] = Math.Round((double)fast.Stats.Tokens / Math.Max(1, fast.Stats.Steps), 3),
                ["threshold_agreement"] = n == 0 ? 1.0 : Math.Round((double)same / n, 4),
            });
            Console.Error.WriteLine($"{id}: {one.Length} tokens, threshold {fast.Stats.Tokens}/{fast.Stats.Steps} per step, agree {same}/{n}");
        }

        var (top, topShare) = Top(all);
        var (topSampled, topShareSampled) = Top(allSampled);
        double pplOne = Math.Exp(nllOne / Math.Max(1, nOne)), pplSample = Math.Exp(nllSample / Math.Max(1, nSample));
        double pplOneSampled = Math.Exp(nllOneSampled / Math.Max(1, nOneSampled));
        double tokensPerStep = (double)thresholdTokens / Math.Max(1, thresholdSteps);
        double agreement = compared == 0 ? 1 : (double)agree / compared;
        static string Pass(bool ok) => ok ? "PASS" : "FAIL";
        var summary = new[]
        {
            string.Create(CultureInfo.InvariantCulture,
                $"bar 1: top token '{tokenizer.Decode([top])}' is {topShare:P1} of {all.Count} greedy one-by-one tokens ({all.Distinct().Count()} distinct) -> {Pass(topShare <= 0.10)}; " +
                $"sampled (T={temperature}): '{tokenizer.Decode([topSampled])}' {topShareSampled:P1} of {allSampled.Count} ({allSampled.Distinct().Count()} distinct) -> {Pass(topShareSampled <= 0.10)}"),
            string.Create(CultureInfo.InvariantCulture,
                $"bar 2: ppl under the causal target: its own T={temperature} samples {pplSample:F1}; greedy one-by-one {pplOne:F1} (ratio {pplOne / pplSample:F2}) -> {Pass(pplOne <= 2 * pplSample)}; " +
                $"sampled one-by-one {pplOneSampled:F1} (ratio {pplOneSampled / pplSample:F2}) -> {Pass(pplOneSampled <= 2 * pplSample)}"),
            string.Create(CultureInfo.InvariantCulture,
                $"bar 3: {Threshold} {tokensPerStep:F2} tokens/step, agreement with greedy one-by-one {agreement:P1} -> {Pass(tokensPerStep >= 2 && agreement >= 0.9)}"),
            string.Create(CultureInfo.InvariantCulture,
                $"reference: the causal target's greedy text: top token {Top(causalGreedy).Share:P1} ({causalGreedy.Distinct().Count()} distinct), ppl {Math.Exp(nllGreedy / Math.Max(1, nGreedy)):F1}; its T={temperature} samples: top token {Top(causalSampled).Share:P1} ({causalSampled.Distinct().Count()} distinct)"),
        };
        return new JsonObject
        {
            ["bar1_one_by_one_tokens"] = all.Count,
            ["bar1_distinct_tokens"] = all.Distinct().Count(),
            ["bar1_top_token"] = tokenizer.Decode([top]),
            ["bar1_top_token_share"] = Math.Round(topShare, 4),
            ["bar1_pass"] = topShare <= 0.10,
            ["bar1_sampled_tokens"] = allSampled.Count,
            ["bar1_sampled_distinct_tokens"] = allSampled.Distinct().Count(),
            ["bar1_sampled_top_token"] = tokenizer.Decode([topSampled]),
            ["bar1_sampled_top_token_share"] = Math.Round(topShareSampled, 4),
            ["bar1_sampled_pass"] = topShareSampled <= 0.10,
            ["bar2_causal_sample_temperature"] = temperature,
            ["bar2_ppl_causal_samples"] = Math.Round(pplSample, 2),
            ["bar2_ppl_one_by_one"] = Math.Round(pplOne, 2),
            ["bar2_ratio"] = Math.Round(pplOne / pplSample, 3),
            ["bar2_pass"] = pplOne <= 2 * pplSample,
            ["bar2_ppl_one_by_one_sampled"] = Math.Round(pplOneSampled, 2),
            ["bar2_sampled_ratio"] = Math.Round(pplOneSampled / pplSample, 3),
            ["bar2_sampled_pass"] = pplOneSampled <= 2 * pplSample,
            ["bar2_ppl_fast_dllm_threshold"] = Math.Round(Math.Exp(nllThreshold / Math.Max(1, nThreshold)), 2),
            ["bar3_tokens_per_step"] = Math.Round(tokensPerStep, 3),
            ["bar3_agreement"] = Math.Round(agreement, 4),
            ["bar3_pass"] = tokensPerStep >= 2 && agreement >= 0.9,
            ["reference_causal_sample_top_token_share"] = Math.Round(Top(causalSampled).Share, 4),
            ["reference_causal_sample_distinct_tokens"] = causalSampled.Distinct().Count(),
            ["reference_causal_greedy_top_token_share"] = Math.Round(Top(causalGreedy).Share, 4),
            ["reference_causal_greedy_distinct_tokens"] = causalGreedy.Distinct().Count(),
            ["reference_ppl_causal_greedy"] = Math.Round(Math.Exp(nllGreedy / Math.Max(1, nGreedy)), 2),
            ["summary"] = new JsonArray(summary.Select(l => (JsonNode)l).ToArray()),
            ["per_prompt"] = perPrompt,
        };
    }

    private static (int Token, double Share) Top(List<int> tokens)
    {
        if (tokens.Count == 0) return (0, 0);
        var g = tokens.GroupBy(t => t).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First();
        return (g.Key, (double)g.Count() / tokens.Count);
    }

    private static void Add(ref double sum, ref long count, (double Nll, int Count) x) { sum += x.Nll; count += x.Count; }

    private static Pardec.Dsl.Plan.DecodePlan Plan(string dir, string file, string name)
    {
        string path = Path.Combine(dir, file);
        if (!File.Exists(path)) throw new TrainingException($"{path}: strategy file not found (--strategies DIR)");
        var compiled = PdecCompiler.Compile(File.ReadAllText(path), path);
        if (compiled.HasErrors) throw new TrainingException($"{path}: does not compile");
        return compiled.Plans.FirstOrDefault(p => p.Name == name) ?? throw new TrainingException($"{path}: no strategy {name}");
    }

    /// <summary>Greedy (no generator) or seeded temperature sampling by full recompute (only for the baseline's text; the runtime's decoders are the real thing).</summary>
    private static int[] Continue(ICausalLM model, int[] prompt, int count, int eos, Generator? generator, double temperature)
    {
        var ids = new List<int>(prompt);
        using var _ = no_grad();
        for (int i = 0; i < count; i++)
        {
            using var scope = NewDisposeScope();
            long n = ids.Count;
            using var output = model.Forward(tensor(ids.Select(v => (long)v).ToArray(), [1, n], ScalarType.Int64),
                                             Batches.Positions(1, n), Batches.CausalMask(n), null);
            var last = output.Logits[0, n - 1];
            int next = generator is null ? (int)last.argmax().item<long>()
                                         : (int)multinomial(softmax(last / temperature, 0), 1, generator: generator).item<long>();
            if (next == eos) break;
            ids.Add(next);
        }
        return ids.Skip(prompt.Length).ToArray();
    }

    /// <summary>Teacher-forced NLL (summed nats) of <paramref name="generated"/> after <paramref name="prompt"/>, EOS excluded.</summary>
    private static (double Nll, int Count) GeneratedNll(ICausalLM causal, int[] prompt, int[] generated)
    {
        if (generated.Length == 0) return (0, 0);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int n = prompt.Length + generated.Length;
        var ids = tensor(prompt.Concat(generated).Select(t => (long)t).ToArray(), [1, n], ScalarType.Int64);
        using var output = causal.Forward(ids, Batches.Positions(1, n), Batches.CausalMask(n), null);
        var logits = output.Logits[0].narrow(0, prompt.Length - 1, generated.Length);  // row p-1 predicts token p
        var nll = nn.functional.cross_entropy(logits, ids[0].narrow(0, prompt.Length, generated.Length), reduction: nn.Reduction.Sum);
        return (nll.item<float>(), generated.Length);
    }
}
