using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Pardec.Dsl;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Strategies;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

/// <summary>
/// Whole-decode benchmark of the masked-diffusion strategy library: every masked strategy and the one-token-per-step
/// baseline (<c>LladaOneByOne</c>) run in the same process on the same held-out prompts, for several generation lengths,
/// so speedups are ratios from one run (the machine is shared and noisy). Per strategy and length: steps (forward
/// passes) per token, canvas forwards per token (a batched draft-verify forwards several canvases in one call; this is
/// the honest cost), tokens/s, speedups over the baseline, agreement with the baseline's tokens, and the perplexity of
/// the generated text under the causal target (a quality proxy independent of the diffusion model).
/// </summary>
public static class DiffusionBenchmark
{
    private const string Baseline = "LladaOneByOne";
    private const string Lossless = "DllmDraftVerify";

    private const string Usage = """
        dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- diffusion [options]
          --model DIR                masked-diffusion LM (default <repo>/models/english/diffusion)
          --causal DIR               causal LM that scores perplexity (default <repo>/models/english/target)
          --lengths a,b,...          generation lengths (default 64,128,256; capped by the model's context)
          --prompts K                prompts from models/eval/prompts.english.jsonl (default 4)
          --prompt-tokens N          keep each prompt's first N tokens, BOS included (default 48)
          --strategies a,b,...       subset (default: every masked library strategy; LladaOneByOne always runs)
          --threads T                torch threads (default 1)
          --out DIR                  results folder (default benchmarks/results)
        """;

    public static int Run(string[] args)
    {
        Options? o;
        try { o = Options.Parse(args); }
        catch (Exception e) when (e is ArgumentException or FormatException) { Console.WriteLine(e.Message); o = null; }
        if (o is null) { Console.WriteLine(Usage); return 2; }
        torch.set_num_threads(o.Threads);
        string root = StrategyBenchmark.RepoRoot();
        string loadAtStart = File.ReadAllText("/proc/loadavg").Trim();
        using var diffusion = PretrainedModel.Load(o.Model, CPU, ScalarType.Float32, requireTokenizer: true);
        var tokenizer = diffusion.Tokenizer!;
        if (diffusion.Config.MaskTokenId is null)
            throw new ArgumentException($"{o.Model} has no mask_token_id in config.json: not a masked-diffusion LM.");
        using var causal = PretrainedModel.LoadModel(o.Causal, CPU, ScalarType.Float32);
        if (causal.Config.VocabSize != diffusion.Config.VocabSize)
            throw new ArgumentException($"The causal model's vocabulary ({causal.Config.VocabSize}) differs from the diffusion model's ({diffusion.Config.VocabSize}).");
        var timed = new TimedModel(diffusion.Model);
        var models = new ModelSet().Add("model", timed);

        var prompts = File.ReadLines(Path.Combine(root, "models", "eval", "prompts.english.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!)
            .Take(o.Prompts).Select(p => tokenizer.Encode(p, addBos: true).Take(o.PromptTokens).ToArray()).ToArray();
        int context = Math.Min(diffusion.Config.MaxPositionEmbeddings, causal.Config.MaxPositionEmbeddings);
        int longestPrompt = prompts.Max(p => p.Length);
        var lengths = o.Lengths.Select(l => (Requested: l, Run: Math.Min(l, context - longestPrompt))).ToArray();

        var strategies = GeneratedStrategies.All
            .Where(s => PdecCompiler.Compile(s.Plan).Plans[0].Canvas.Kind == CanvasKind.Masked)
            // A strategy runs only on the kind of denoiser it declares (block-causal ones need a block-causal model).
            .Where(s => PdecCompiler.Compile(s.Plan).Plans[0].Models.Any(m => m.Denoiser?.BlockCausal is not null) == (diffusion.Config.DenoiserBlock is not null))
            .Where(s => o.Strategies is null || o.Strategies.Contains(s.Name) || s.Name == Baseline)
            .OrderBy(s => s.Name == Baseline ? 0 : 1).ThenBy(s => s.Name, StringComparer.Ordinal).ToList();
        if (strategies.Count == 0 || strategies[0].Name != Baseline)
            throw new InvalidOperationException($"The baseline {Baseline} is not in the generated strategy registry.");

        Console.WriteLine($"diffusion: {o.Model} ({PaddedModel.Parameters(diffusion.Model) / 1e6:F1}M parameters, context {diffusion.Config.MaxPositionEmbeddings}, mask {diffusion.Config.MaskTokenId}); causal scorer: {o.Causal}");
        Console.WriteLine($"{prompts.Length} prompts (≤{o.PromptTokens} tokens), lengths {string.Join(", ", lengths.Select(l => l.Run == l.Requested ? $"{l.Run}" : $"{l.Requested}→{l.Run}"))}, {strategies.Count} strategies, {o.Threads} thread(s), load {loadAtStart}");

        var rows = new List<Row>();
        var failures = new List<string>();
        foreach (var (requested, length) in lengths)
        {
            var options = new GenerationOptions { MaxNewTokens = length, StopOnEos = true };
            int[][]? reference = null;
            Row? baseline = null;
            foreach (var strategy in strategies)
            {
                IDecoder decoder;
                try { decoder = strategy.Create(models, null, context); }
                catch (ArgumentException e) { Console.WriteLine($"  {strategy.Name}: skipped ({e.Message})"); continue; }
                using (decoder)
                {
                    var plan = PdecCompiler.Compile(strategy.Plan).Plans[0];
                    decoder.Generate(prompts[0], options with { MaxNewTokens = 8 }); // warm-up: JIT, allocator
                    var row = new Row
                    {
                        Strategy = strategy.Name, Guarantee = plan.Guarantee.ToString().ToLowerInvariant(),
                        Length = length, RequestedLength = requested,
                    };
                    var outputs = new int[prompts.Length][];
                    for (int i = 0; i < prompts.Length; i++)
                    {
                        timed.ResetTimer();
                        long start = Stopwatch.GetTimestamp();
                        var result = decoder.Generate(prompts[i], options);
                        var wall = Stopwatch.GetElapsedTime(start);
                        outputs[i] = result.Tokens.ToArray();
                        row.Tokens += result.Stats.Tokens;
                        row.Steps += result.Stats.Steps;
                        row.CanvasForwards += result.Stats.TargetForwards;
                        row.ModelCalls += timed.Forwards;
                        row.WallSeconds += wall.TotalSeconds;
                        row.ForwardSeconds += timed.ForwardTime.TotalSeconds;
                        var (nll, count) = GeneratedNll(causal, prompts[i], outputs[i]);
                        row.Nll += nll;
                        row.ScoredTokens += count;
                    }
                    reference ??= outputs;
                    baseline ??= row;
                    int equal = 0, compared = 0;
                    for (int i = 0; i < outputs.Length; i++)
                    {
                        int n = Math.Min(outputs[i].Length, reference[i].Length);
                        for (int j = 0; j < n; j++) if (outputs[i][j] == reference[i][j]) equal++;
                        compared += n;
                    }
                    row.Agreement = compared == 0 ? 1 : (double)equal / compared;
                    row.ExactMatch = outputs.Zip(reference).All(p => p.First.SequenceEqual(p.Second));
                    row.SpeedupTokensPerSecond = row.TokensPerSecond / baseline.TokensPerSecond;
                    row.SpeedupSteps = baseline.StepsPerToken / Math.Max(row.StepsPerToken, 1e-12);
                    row.SpeedupCanvasForwards = baseline.CanvasForwardsPerToken / Math.Max(row.CanvasForwardsPerToken, 1e-12);
                    var all = outputs.SelectMany(t => t).ToArray();
                    row.TopTokenShare = all.Length == 0 ? 0 : (double)all.GroupBy(t => t).Max(g => g.Count()) / all.Length;
                    row.DistinctTokens = all.Distinct().Count();
                    row.Sample = tokenizer.Decode(outputs[0].Take(48));
                    rows.Add(row);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  L={length,3} {row.Strategy,-18} {row.StepsPerToken,5:F3} steps/tok {row.CanvasForwardsPerToken,6:F3} canvas/tok {row.TokensPerSecond,7:F1} tok/s  x{row.SpeedupTokensPerSecond:F2} tok/s  x{row.SpeedupSteps:F2} steps  agree {row.Agreement:P0} {(row.ExactMatch ? "exact" : "differs")}  ppl {row.Perplexity:F1}  ({row.Tokens} tokens, {row.DistinctTokens} distinct, top token {row.TopTokenShare:P0})"));
                    if (strategy.Name == Lossless && !row.ExactMatch)
                    {
                        string message = $"LOSSLESS VIOLATION: {Lossless} differs from {Baseline} at length {length} (agreement {row.Agreement:P1}).";
                        failures.Add(message);
                        Console.Error.WriteLine();
                        Console.Error.WriteLine(new string('!', message.Length));
                        Console.Error.WriteLine(message);
                        Console.Error.WriteLine(new string('!', message.Length));
                        Console.Error.WriteLine();
                    }
                }
            }
        }
        Write(o, rows, failures, diffusion, prompts, lengths, loadAtStart, args);
        if (failures.Count > 0)
        {
            Console.Error.WriteLine($"FAILED: {failures.Count} lossless check(s) failed; see above.");
            return 1;
        }
        return 0;
    }

    /// <summary>
    /// Teacher-forced NLL (nats, summed) of the generated tokens given the prompt under the causal model: one forward of
    /// prompt ++ generation with a causal mask; the prompt's own tokens are not scored, and the generation has no EOS
    /// (the decoder's result excludes it).
    /// </summary>
    internal static (double Nll, int Count) GeneratedNll(ICausalLM causal, int[] prompt, int[] generated)
    {
        if (generated.Length == 0) return (0, 0);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int n = prompt.Length + generated.Length;
        var ids = tensor(prompt.Concat(generated).Select(t => (long)t).ToArray(), ScalarType.Int64).view(1, n);
        var positions = arange(n, ScalarType.Int64).view(1, n);
        var mask = ones(n, n, ScalarType.Bool).tril().view(1, 1, n, n);
        using var output = causal.Forward(ids, positions, mask, null);
        // Logits at position p-1 .. n-2 predict the generated tokens at p .. n-1.
        var logits = output.Logits[0].narrow(0, prompt.Length - 1, generated.Length).to_type(ScalarType.Float32);
        var targets = ids[0].narrow(0, prompt.Length, generated.Length);
        var nll = nn.functional.cross_entropy(logits, targets, reduction: nn.Reduction.Sum);
        return (nll.item<float>(), generated.Length);
    }

    private static void Write(Options o, List<Row> rows, List<string> failures, PretrainedModel diffusion, int[][] prompts,
                              (int Requested, int Run)[] lengths, string loadAtStart, string[] args)
    {
        Directory.CreateDirectory(o.Out);
        const string name = "diffusion-english";
        var command = "dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- diffusion " + string.Join(' ', args);
        string loadAtEnd = File.ReadAllText("/proc/loadavg").Trim();
        var json = new
        {
            command, date = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture), loadAtStart, loadAtEnd,
            threads = o.Threads, dtype = "float32", model = o.Model, causal = o.Causal,
            parameters = PaddedModel.Parameters(diffusion.Model), context = diffusion.Config.MaxPositionEmbeddings,
            prompts = prompts.Length, promptTokens = prompts.Select(p => p.Length).ToArray(),
            lengths = lengths.Select(l => new { requested = l.Requested, run = l.Run }).ToArray(),
            losslessFailures = failures, rows,
        };
        File.WriteAllText(Path.Combine(o.Out, name + ".json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Masked-diffusion strategy benchmark: English ({PaddedModel.Parameters(diffusion.Model) / 1e6:F1}M-parameter diffusion LM)");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Command: `{command}` ({json.date}, {o.Threads} torch thread(s), f32; load average at start `{loadAtStart}`, at end `{loadAtEnd}`; CPU: {Machine.Cpu}).");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"- Diffusion LM: `{o.Model}`; perplexity scorer: the causal target `{o.Causal}`.");
        md.AppendLine(CultureInfo.InvariantCulture, $"- {prompts.Length} held-out prompts from `models/eval/prompts.english.jsonl`, each cut to its first {o.PromptTokens} tokens (BOS included; lengths {string.Join(", ", prompts.Select(p => p.Length))}).");
        var capped = lengths.Where(l => l.Run != l.Requested).ToArray();
        if (capped.Length > 0)
            md.AppendLine(CultureInfo.InvariantCulture, $"- Capped by the {diffusion.Config.MaxPositionEmbeddings}-token context (prompt + generation must fit): {string.Join(", ", capped.Select(l => $"{l.Requested} → {l.Run}"))}. Rows are labelled with the length actually run.");
        md.AppendLine("- Greedy; generation ends at the first EOS the decoder commits (the masked canvas fills everything after it), so per-token figures divide by the tokens actually produced.");
        md.AppendLine(CultureInfo.InvariantCulture, $"- Every strategy runs in the same process; speedups are over the `{Baseline}` row of the same length (one token committed per step, whole canvas forwarded, no cache).");
        md.AppendLine("- steps/token = loop iterations (one model call each) per token; canvas fwd/token = canvases forwarded per token (a batched verify forwards several canvases in one call, so this is the honest compute cost). The KV-cached strategies forward fewer positions per step, which shows in tok/s, not in these counts.");
        md.AppendLine(CultureInfo.InvariantCulture, $"- agreement = fraction of positions equal to `{Baseline}`'s output up to the shorter of the two; exact = every prompt's tokens identical. ppl = exp(mean NLL of the generated tokens given the prompt) under the causal target, teacher-forced, EOS excluded.");
        md.AppendLine();
        if (failures.Count > 0)
        {
            md.AppendLine("**LOSSLESS CHECK FAILED:**");
            foreach (var f in failures) md.AppendLine("- " + f);
            md.AppendLine();
        }
        md.AppendLine("| length | strategy | guarantee | steps/token | canvas fwd/token | tok/s | speedup tok/s | speedup steps | speedup canvas fwd | agreement | exact | ppl (causal target) | tokens | distinct | top-token share | model time |");
        md.AppendLine("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in rows)
            md.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Length} | {r.Strategy} | {r.Guarantee} | {r.StepsPerToken:F3} | {r.CanvasForwardsPerToken:F3} | {r.TokensPerSecond:F1} | {r.SpeedupTokensPerSecond:F2}x | {r.SpeedupSteps:F2}x | {r.SpeedupCanvasForwards:F2}x | {r.Agreement * 100:F1}% | {(r.ExactMatch ? "yes" : "no")} | {r.Perplexity:F1} | {r.Tokens} | {r.DistinctTokens} | {r.TopTokenShare * 100:F0}% | {r.ModelPercent:F0}% |"));
        md.AppendLine();
        md.AppendLine("distinct = distinct token ids over all prompts' outputs; top-token share = the most frequent token's share of them (a degenerate, repetitive output shows as a high share). Samples (first prompt, first 48 tokens):");
        md.AppendLine();
        foreach (var r in rows.Where(r => r.Strategy == Baseline || r.Sample != rows.First(b => b.Strategy == Baseline && b.Length == r.Length).Sample))
            md.AppendLine(CultureInfo.InvariantCulture, $"- length {r.Length}, {r.Strategy}: `{r.Sample.Replace("\n", " ").Replace("`", "'")}`");
        md.AppendLine();
        md.AppendLine("## Papers vs. here");
        md.AppendLine();
        md.AppendLine("The papers behind these strategies report 3–27× fewer denoising steps (and comparable wall-clock gains with caching) at little or no quality loss, on 8B-parameter LLaDA / Dream models and benchmark suites such as GSM8K and HumanEval. Where this run stands is summarised in the notes below; the model here is a few-million-parameter diffusion LM trained for minutes, so its confidences are far less peaked than an 8B model's, and threshold rules commit fewer tokens per step.");
        md.AppendLine();
        md.AppendLine("<!-- notes -->");
        File.WriteAllText(Path.Combine(o.Out, name + ".md"), md.ToString());
        Console.WriteLine($"wrote {Path.Combine(o.Out, name)}.md/.json");
    }

    public sealed class Row
    {
        public string Strategy { get; set; } = "";
        public string Guarantee { get; set; } = "";
        public int RequestedLength { get; set; }
        public int Length { get; set; }
        public int Tokens { get; set; }
        public int Steps { get; set; }
        public int CanvasForwards { get; set; }
        public int ModelCalls { get; set; }
        public double WallSeconds { get; set; }
        public double ForwardSeconds { get; set; }
        public double Nll { get; set; }
        public int ScoredTokens { get; set; }
        public double Agreement { get; set; }
        public bool ExactMatch { get; set; }
        public double SpeedupTokensPerSecond { get; set; }
        public double SpeedupSteps { get; set; }
        public double SpeedupCanvasForwards { get; set; }
        public int DistinctTokens { get; set; }
        public double TopTokenShare { get; set; }
        public string Sample { get; set; } = "";
        public double TokensPerSecond => Tokens / Math.Max(WallSeconds, 1e-9);
        public double StepsPerToken => (double)Steps / Math.Max(Tokens, 1);
        public double CanvasForwardsPerToken => (double)CanvasForwards / Math.Max(Tokens, 1);
        public double Perplexity => ScoredTokens == 0 ? double.NaN : Math.Exp(Nll / ScoredTokens);
        public double ModelPercent => 100 * ForwardSeconds / Math.Max(WallSeconds, 1e-9);
    }

    private sealed record Options(string Model, string Causal, int[] Lengths, int Prompts, int PromptTokens,
                                  HashSet<string>? Strategies, int Threads, string Out)
    {
        public static Options? Parse(string[] args)
        {
            string root = StrategyBenchmark.RepoRoot();
            var o = new Options(Path.Combine(root, "models", "english", "diffusion"), Path.Combine(root, "models", "english", "target"),
                                [64, 128, 256], 4, 48, null, 1, Path.Combine(root, "benchmarks", "results"));
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
                switch (args[i])
                {
                    case "--model": o = o with { Model = Next() }; break;
                    case "--causal": o = o with { Causal = Next() }; break;
                    case "--lengths": o = o with { Lengths = Next().Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray() }; break;
                    case "--prompts": o = o with { Prompts = Int() }; break;
                    case "--prompt-tokens": o = o with { PromptTokens = Int() }; break;
                    case "--strategies": o = o with { Strategies = Next().Split(',').ToHashSet() }; break;
                    case "--threads": o = o with { Threads = Int() }; break;
                    case "--out": o = o with { Out = Next() }; break;
                    default: return null;
                }
            }
            if (o.Prompts <= 0 || o.PromptTokens <= 1 || o.Lengths.Any(l => l <= 0) || o.Threads <= 0) return null;
            return o;
        }
    }
}
