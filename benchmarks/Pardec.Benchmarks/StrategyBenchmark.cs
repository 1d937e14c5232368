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
using Pardec.Runtime.Tokenization;
using Pardec.Strategies;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

/// <summary>
/// Whole-decode benchmark of the causal strategy library on the shipped models: every strategy and the autoregressive
/// baseline run in the same process on the same held-out prompts, so speedups are ratios from one run (the machine is
/// shared and noisy). Per strategy: tokens/s, speedup over AR, tokens per step (mean accepted + the target's own token),
/// target forwards per token, managed bytes per step, host overhead (time outside model forwards) per step, and whether
/// a lossless strategy reproduced AR's tokens exactly.
/// </summary>
public static class StrategyBenchmark
{
    private const string Usage = """
        dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- strategies [options]
          --domain english|code      shipped model family and prompt set (default english)
          --pad-layers N --pad-mlp M  pad the target to a cost-realistic size (same outputs): N extra layers, MLP width M
          --max-tokens N             tokens per prompt (default 96)
          --prompts K                prompts from models/eval/prompts.<domain>.jsonl (default 6)
          --prompt-set in|ood        in: the held-out in-domain prompts above (default); ood: out-of-domain prose,
                                     benchmarks/prompts/english-ood.jsonl (Jane Austen, from Debian's r-cran-janeaustenr)
          --pdec FILE                also run every causal strategy of FILE (interpreted), e.g. a variant of a library one
          --strategies a,b,...       subset (default: every causal library strategy)
          --threads T                torch threads (default 1)
          --dtype f32|bf16           weights and activations of target, draft and heads (default f32); bf16 runs oneDNN's
                                     bf16 GEMMs, far cheaper for several tokens on CPUs with AVX512_BF16/AMX
          --draft-dtype f32|bf16     the draft model's dtype if not --dtype (a tiny draft's forward is op overhead, and
                                     f32 ops are cheaper per call than bf16 ones; the draft's precision cannot change a
                                     lossless strategy's output)
          --target-gguf FILE         the target from a GGUF file instead (weights as stored: Q8_0 -> int8, Q4_0 -> int4,
                                     F32 -> f32; --dtype is then the activations), e.g. the exact file llama.cpp runs in
                                     benchmarks/peer; the tokenizer and the draft still come from models/<domain>
          --row-invariant            the target's f32 linears on Pardec's row-count-invariant CPU kernel
                                     (CausalLMBase.RowInvariantLinears: eager modules, explicit attention)
          --eager                    run the models' eager modules instead of the compiled (TorchScript) forward
          --ar-between               run AR between every two strategies too; speedups are over each strategy's neighbours
          --param S.name=value       override a declared param of strategy S (repeatable), e.g. --param Lookahead.window=3 (then S runs on the interpreter)
          --keep-bos                 a prompt cut to fit the context keeps its BOS in front of its last tokens, cut
                                     where the text round-trips (a text-only peer such as llama.cpp always adds
                                     BOS and tokenizes text; see benchmarks/peer)
          --out DIR                  results folder (default benchmarks/results)
        """;

    public static int Run(string[] args)
    {
        var o = Options.Parse(args);
        if (o is null) { Console.WriteLine(Usage); return 2; }
        torch.set_num_threads(o.Threads);
        string root = RepoRoot();
        string family = Path.Combine(root, "models", o.Domain);
        using var loaded = PretrainedModel.Load(Path.Combine(family, "target"), CPU, o.DType, requireTokenizer: true);
        var tokenizer = loaded.Tokenizer!;
        CausalLMBase target = loaded.Model;
        CausalLMBase? padded = null;
        if (o.TargetGguf is not null)
        {
            if (o.PadLayers > 0 || o.PadMlp > 0) throw new ArgumentException("--target-gguf and --pad-layers/--pad-mlp: the file is the target");
            padded = PretrainedModel.LoadGguf(o.TargetGguf, CPU, o.DType).Model;
            target = padded;
        }
        else if (o.PadLayers > 0 || o.PadMlp > 0)
        {
            padded = PaddedModel.Pad(loaded.Model, o.PadLayers, Math.Max(o.PadMlp, loaded.Config.IntermediateSize));
            target = padded;
        }
        using var draftModel = Directory.Exists(Path.Combine(family, "draft")) ? PretrainedModel.Load(Path.Combine(family, "draft"), CPU, o.DraftDType ?? o.DType) : null;
        using var heads = Directory.Exists(Path.Combine(family, "medusa"))
            ? MedusaHeads.Load(Path.Combine(family, "medusa"), loaded.Config, CPU, o.DType) : null;
        if (o.RowInvariant) target.RowInvariantLinears = true;
        if (o.Eager) { target.CompiledForwardEnabled = false; if (draftModel is not null) draftModel.Model.CompiledForwardEnabled = false; }
        var timedTarget = new TimedModel(target);
        var timedDraft = draftModel is null ? null : new TimedModel(draftModel.Model);
        var models = new ModelSet().Add("target", timedTarget);
        if (timedDraft is not null) models.Add("draft", timedDraft);
        if (heads is not null) models.Add("heads", heads);

        var prompts = File.ReadLines(PromptFile(o, root))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!)
            .Take(o.Prompts).Select(p => tokenizer.Encode(p, addBos: true)).ToArray();
        // Every strategy must have room for all its tokens inside the model's context (plus the widest tree), or
        // strategies would stop at different lengths: keep each prompt's last tokens that leave that room.
        int room = loaded.Config.MaxPositionEmbeddings - o.MaxTokens - 80;
        if (room < 8) throw new ArgumentException($"--max-tokens {o.MaxTokens} leaves no room for a prompt in a {loaded.Config.MaxPositionEmbeddings}-token context.");
        prompts = prompts.Select(p => Truncate(p, room, o.KeepBos ? tokenizer : null)).ToArray();

        var extra = o.PdecFile is null ? [] : Extra(o.PdecFile);
        var strategies = GeneratedStrategies.All.Concat(extra)
            .Where(s => PdecCompiler.Compile(s.Plan).Plans[0] is { Canvas.Kind: CanvasKind.Causal, Canvas.Batch: null })
            .Where(s => o.Strategies is null || o.Strategies.Contains(s.Name) || s.Name == "Greedy")
            .OrderBy(s => s.Name == "Greedy" ? 0 : 1).ThenBy(s => s.Name, StringComparer.Ordinal).ToList();

        var options = new GenerationOptions { MaxNewTokens = o.MaxTokens, StopOnEos = false };
        var rows = new List<Row>();
        int[][]? reference = null;
        Row? baseline = null;
        Console.WriteLine($"target: {o.Domain} {TargetKind(o)} {target.Quantization.Name} ({PaddedModel.Parameters(target) / 1e6:F1}M parameters), {prompts.Length} prompts x {o.MaxTokens} tokens, {o.Threads} thread(s), {AutoDType.Name(o.DType)}, load {File.ReadAllText("/proc/loadavg").Trim()}");
        // The AR baseline runs first and again last; speedups are over the mean of the two, and the drift between them
        // (a shared machine's load changing during the run) is reported beside the table.
        // With --ar-between the AR baseline also runs between every two strategies, and each strategy's speedup is over
        // the mean of the AR runs just before and just after it: on a machine whose load (or memory-bandwidth contention,
        // which a bandwidth-bound decode feels first) changes within the run, neighbours are a fairer baseline.
        var order = o.ArBetween
            ? strategies.Skip(1).SelectMany(s => new[] { strategies[0], s }).Append(strategies[0]).ToList()
            : strategies.Append(strategies[0]).ToList();
        var arRuns = new List<Row>();
        for (int index = 0; index < order.Count; index++)
        {
            var strategy = order[index];
            bool closingBaseline = index == order.Count - 1;
            bool betweenBaseline = !closingBaseline && index > 0 && strategy == strategies[0];
            IDecoder decoder;
            try
            {
                // Overriding a build-time param needs the interpreter (the generated loop has it folded in); the engine
                // equivalence tests prove both engines give the same tokens, so only speed differs.
                var overrides = o.Params.GetValueOrDefault(strategy.Name);
                decoder = overrides is null ? strategy.Create(models, null, 512)
                    : PlanInterpreter.Create(PdecCompiler.Compile(strategy.Plan).Plans[0], models, overrides, 512);
            }
            catch (ArgumentException e) { Console.WriteLine($"  {strategy.Name}: skipped ({e.Message})"); continue; }
            using (decoder)
            {
                var plan = PdecCompiler.Compile(strategy.Plan).Plans[0];
                decoder.Generate(prompts[0], options); // warm-up: a whole decode, so tiered JIT settles (a hot host loop runs unoptimised for its first thousands of calls)
                var row = new Row { Strategy = closingBaseline ? strategy.Name + " (again, last)" : strategy.Name, Guarantee = plan.Guarantee.ToString().ToLowerInvariant() };
                var outputs = new int[prompts.Length][];
                for (int i = 0; i < prompts.Length; i++)
                {
                    timedTarget.ResetTimer(); timedDraft?.ResetTimer(); heads?.ResetCallTimer();
                    long bytes = GC.GetAllocatedBytesForCurrentThread();
                    var pause = GC.GetTotalPauseDuration();
                    int gen0 = GC.CollectionCount(0);
                    long start = Stopwatch.GetTimestamp();
                    var result = decoder.Generate(prompts[i], options);
                    var wall = Stopwatch.GetElapsedTime(start);
                    row.ManagedBytes += GC.GetAllocatedBytesForCurrentThread() - bytes;
                    row.ForwardBytes += timedTarget.ForwardBytes + (timedDraft?.ForwardBytes ?? 0);
                    row.GcPauseSeconds += (GC.GetTotalPauseDuration() - pause).TotalSeconds;
                    row.Gen0Collections += GC.CollectionCount(0) - gen0;
                    outputs[i] = result.Tokens.ToArray();
                    row.Tokens += result.Stats.Tokens;
                    row.Steps += result.Stats.Steps;
                    row.TargetForwards += result.Stats.TargetForwards - 1; // prefill excluded
                    row.DraftForwards += result.Stats.DraftForwards + (heads?.Calls ?? 0);
                    row.DecodeSeconds += result.Stats.DecodeTime.TotalSeconds;
                    row.PrefillSeconds += result.Stats.PrefillTime.TotalSeconds;
                    // Medusa heads are the draft of the strategies that use them: their calls count as draft forwards.
                    var headsTime = heads?.CallTime ?? TimeSpan.Zero;
                    var forwardTime = timedTarget.ForwardTime + (timedDraft?.ForwardTime ?? TimeSpan.Zero) + headsTime;
                    row.TargetForwardSeconds += timedTarget.ForwardTime.TotalSeconds;
                    row.TargetForwardCalls += timedTarget.Forwards;
                    row.DraftForwardSeconds += (timedDraft?.ForwardTime ?? TimeSpan.Zero).TotalSeconds + headsTime.TotalSeconds;
                    row.DraftForwardCalls += (timedDraft?.Forwards ?? 0) + (heads?.Calls ?? 0);
                    row.HostSeconds += Math.Max(0, (wall - forwardTime).TotalSeconds); // prefill is a timed forward too
                    row.WallSeconds += wall.TotalSeconds;
                }
                reference ??= outputs;
                row.IdenticalToAr = outputs.Zip(reference).All(p => p.First.SequenceEqual(p.Second));
                baseline ??= row;
                if (strategy == strategies[0]) arRuns.Add(row);
                if (!betweenBaseline) rows.Add(row);
                Console.WriteLine($"  {row.Strategy,-22} {row.TokensPerSecond,7:F1} tok/s  {row.TokensPerStep:F2} tok/step  host {row.HostPercent:F1}%  target {row.TargetMsPerForward:F1} ms/fwd ({100 * row.TargetForwardSeconds / row.WallSeconds:F0}%)  draft {row.DraftMsPerForward:F2} ms/fwd ({100 * row.DraftForwardSeconds / row.WallSeconds:F0}%)  {(row.IdenticalToAr ? "identical" : "differs")}");
            }
        }
        double arTokensPerSecond = (rows[0].TokensPerSecond + rows[^1].TokensPerSecond) / 2;
        foreach (var row in rows) row.Speedup = row.TokensPerSecond / arTokensPerSecond;
        if (o.ArBetween)
        {
            // Strategy k (1-based among the non-AR rows) ran between AR runs k - 1 and k.
            for (int k = 1; k < rows.Count - 1; k++)
            {
                var (before, after) = (arRuns[k - 1], arRuns[k]);
                rows[k].ArNeighbourTokensPerSecond = (before.TokensPerSecond + after.TokensPerSecond) / 2;
                rows[k].ArNeighbourEndToEndTokensPerSecond = (before.EndToEndTokensPerSecond + after.EndToEndTokensPerSecond) / 2;
                rows[k].Speedup = rows[k].TokensPerSecond / rows[k].ArNeighbourTokensPerSecond!.Value;
            }
        }
        Console.WriteLine($"AR baseline: {rows[0].TokensPerSecond:F1} tok/s first, {rows[^1].TokensPerSecond:F1} tok/s last");
        Write(o, rows, padded is null ? loaded.Model : padded, args);
        padded?.Dispose();
        return 0;
    }

    private static string TargetKind(Options o) => o.TargetGguf is not null ? "gguf" : o.PadLayers > 0 || o.PadMlp > 0 ? "padded" : "shipped";

    // The prompt set: held-out text of the models' own domain, or out-of-domain prose (English only).
    private static string PromptFile(Options o, string root) => o.PromptSet switch
    {
        "in" => Path.Combine(root, "models", "eval", $"prompts.{o.Domain}.jsonl"),
        "ood" when o.Domain == "english" => Path.Combine(root, "benchmarks", "prompts", "english-ood.jsonl"),
        "ood" => throw new ArgumentException($"--prompt-set ood: there is an out-of-domain set for english only, not {o.Domain}"),
        var other => throw new ArgumentException($"--prompt-set {other}: expected in or ood"),
    };

    // Strategies from a .pdec file, run on the interpreter (the same tokens as a generated decoder; only host time differs).
    private static GeneratedStrategy[] Extra(string path)
    {
        var compiled = PdecCompiler.Compile(File.ReadAllText(path), path);
        var errors = compiled.Diagnostics.Where(d => d.Severity == Pardec.Dsl.Diagnostics.DiagnosticSeverity.Error).ToList();
        if (errors.Count > 0) throw new ArgumentException($"--pdec {path}: " + string.Join("; ", errors));
        return compiled.Plans.Select(p => new GeneratedStrategy(p.Name, p.Print(),
            (models, parameters, maxLength) => PlanInterpreter.Create(p, models, parameters, maxLength))).ToArray();
    }

    private static void Write(Options o, List<Row> rows, CausalLMBase target, string[] args)
    {
        Directory.CreateDirectory(o.Out);
        string name = $"strategies-{o.Domain}-{TargetKind(o)}{(o.TargetGguf is null ? "" : "-" + target.Quantization.Name)}{(o.DType == ScalarType.Float32 ? "" : "-" + AutoDType.Name(o.DType))}{(o.PromptSet == "ood" ? "-ood" : "")}";
        var command = "dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- strategies " + string.Join(' ', args);
        var json = new
        {
            command, date = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture), load = File.ReadAllText("/proc/loadavg").Trim(), cpu = Machine.Cpu,
            threads = o.Threads, dtype = AutoDType.Name(o.DType), domain = o.Domain, promptSet = o.PromptSet, promptFile = Path.GetRelativePath(RepoRoot(), PromptFile(o, RepoRoot())), parameters = PaddedModel.Parameters(target),
            targetGguf = o.TargetGguf, weights = target.Quantization.Name, weightBytesPerToken = QuantizedDecodeBenchmark.WeightBytes(target), maxTokens = o.MaxTokens, prompts = o.Prompts, rows,
        };
        File.WriteAllText(Path.Combine(o.Out, name + ".json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
        var md = new StringBuilder();
        md.AppendLine($"# Strategy benchmark: {o.Domain}, {TargetKind(o)} target ({PaddedModel.Parameters(target) / 1e6:F1}M parameters)");
        md.AppendLine();
        md.AppendLine($"Command: `{command}` ({json.date}, {o.Threads} torch thread(s), {AutoDType.Name(o.DType)}{(o.Eager ? ", eager modules" : "")}{(o.RowInvariant ? ", target linears on RowInvariantLinear" : "")}, load average at start `{json.load}`; CPU: {Machine.Cpu}).");
        md.AppendLine($"{o.Prompts} {(o.PromptSet == "ood" ? "out-of-domain" : "held-out")} prompts from `{Path.GetRelativePath(RepoRoot(), PromptFile(o, RepoRoot()))}`, {o.MaxTokens} greedy tokens each (EOS ignored), every strategy in the same process; " +
            (o.ArBetween
                ? $"AR also ran between every two strategies, and each strategy's speedup is over the mean of the AR runs just before and after it (the AR rows shown are the first and last; load drift: {rows[0].TokensPerSecond:F1} vs {rows[^1].TokensPerSecond:F1} tok/s)."
                : $"speedup is tokens/s over the mean of the two `Greedy` (AR) rows of this run (measured first and last, so load drift shows: {rows[0].TokensPerSecond:F1} vs {rows[^1].TokensPerSecond:F1} tok/s).") +
            (o.DraftDType is { } dd && dd != o.DType ? $" The draft model runs in {AutoDType.Name(dd)}." : "") +
            " For Blockwise and Medusa the draft is the heads (one call per step ranks every head); host overhead is the time outside the target's, the draft's and the heads' calls.");
        md.AppendLine();
        md.AppendLine("| strategy | guarantee | tok/s | speedup vs AR | tokens/step | target fwd/token | draft fwd/token | managed KB/step: model forwards | managed B/step: decode loop | GC pause | host overhead/step | target ms/forward (share of time) | draft ms/forward (share) | identical to AR |");
        md.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        foreach (var r in rows)
            md.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Strategy} | {r.Guarantee} | {r.TokensPerSecond:F1} | {r.Speedup:F2}x | {r.TokensPerStep:F2} | {r.TargetForwardsPerToken:F2} | {r.DraftForwardsPerToken:F2} | {r.ForwardKBPerStep:F1} | {r.LoopBytesPerStep:F0} | {r.GcPausePercent:F2}% ({r.Gen0Collections} gen0) | {r.HostMsPerStep:F2} ms ({r.HostPercent:F1}%) | {r.TargetMsPerForward:F1} ({100 * r.TargetForwardSeconds / Math.Max(r.WallSeconds, 1e-9):F0}%) | {(r.DraftForwardCalls == 0 ? "" : $"{r.DraftMsPerForward:F2} ({100 * r.DraftForwardSeconds / Math.Max(r.WallSeconds, 1e-9):F0}%)")} | {(r.IdenticalToAr ? "yes" : "no")} |"));
        File.WriteAllText(Path.Combine(o.Out, name + ".md"), md.ToString());
        Console.WriteLine($"wrote {Path.Combine(o.Out, name)}.md/.json");
    }

    /// <summary>
    /// A prompt cut to fit <paramref name="room"/> tokens: its last tokens; or, with <paramref name="keepBosWith"/> (for a
    /// peer engine that takes text and always adds BOS, like llama.cpp), BOS then the longest tail of at most room - 1
    /// tokens whose text (<see cref="TailText"/>) tokenizes back to exactly those tokens, so both engines see the same ids.
    /// </summary>
    internal static int[] Truncate(int[] prompt, int room, TextTokenizer? keepBosWith)
    {
        if (prompt.Length <= room) return prompt;
        if (keepBosWith is null) return prompt[^room..];
        for (int start = prompt.Length - room + 1; start < prompt.Length; start++)
        {
            int[] cut = [prompt[0], .. prompt[start..]];
            if (keepBosWith.Encode(TailText(keepBosWith, cut), addBos: true).SequenceEqual(cut)) return cut;
        }
        throw new ArgumentException("No tail of the prompt tokenizes back to itself.");
    }

    /// <summary>The text of a prompt after its BOS, as a text-only engine should be given it.</summary>
    internal static string TailText(TextTokenizer tokenizer, int[] prompt) => tokenizer.Decode(prompt.Skip(1)).TrimStart(' ');

    public sealed class Row
    {
        public string Strategy { get; set; } = "";
        public string Guarantee { get; set; } = "";
        public int Tokens { get; set; }
        public int Steps { get; set; }
        public int TargetForwards { get; set; }
        public int DraftForwards { get; set; }
        public double DecodeSeconds { get; set; }
        public double WallSeconds { get; set; }
        /// <summary>Prompt prefill inside <see cref="WallSeconds"/>: wall - prefill is the end-to-end generation time (the peer comparison uses it).</summary>
        public double PrefillSeconds { get; set; }
        public double HostSeconds { get; set; }
        /// <summary>With --ar-between: the mean of the AR runs just before and after this strategy (DecodeTime and end-to-end).</summary>
        public double? ArNeighbourTokensPerSecond { get; set; }
        public double? ArNeighbourEndToEndTokensPerSecond { get; set; }
        public double EndToEndTokensPerSecond => Tokens / Math.Max(WallSeconds - PrefillSeconds, 1e-9);
        /// <summary>Wall time inside the target's / the draft's forwards (prefill included) and how many there were.</summary>
        public double TargetForwardSeconds { get; set; }
        public int TargetForwardCalls { get; set; }
        public double DraftForwardSeconds { get; set; }
        public int DraftForwardCalls { get; set; }
        public double TargetMsPerForward => TargetForwardSeconds * 1000 / Math.Max(TargetForwardCalls, 1);
        public double DraftMsPerForward => DraftForwardSeconds * 1000 / Math.Max(DraftForwardCalls, 1);
        public long ManagedBytes { get; set; }
        /// <summary>The part of <see cref="ManagedBytes"/> allocated inside model forwards (TorchSharp's per-op tensor handles).</summary>
        public long ForwardBytes { get; set; }
        public double GcPauseSeconds { get; set; }
        public int Gen0Collections { get; set; }
        public double GcPausePercent => 100 * GcPauseSeconds / Math.Max(WallSeconds, 1e-9);
        public double Speedup { get; set; }
        public bool IdenticalToAr { get; set; }
        public double TokensPerSecond => Tokens / Math.Max(DecodeSeconds, 1e-9);
        public double TokensPerStep => (double)Tokens / Math.Max(Steps, 1);
        public double TargetForwardsPerToken => (double)TargetForwards / Math.Max(Tokens, 1);
        public double DraftForwardsPerToken => (double)DraftForwards / Math.Max(Tokens, 1);
        public double ManagedKBPerStep => ManagedBytes / 1024.0 / Math.Max(Steps, 1);
        public double ForwardKBPerStep => ForwardBytes / 1024.0 / Math.Max(Steps, 1);
        /// <summary>Everything else per step: the decode loop, plus each call's setup (prompt tensor, result) spread over its steps.</summary>
        public double LoopBytesPerStep => (ManagedBytes - ForwardBytes) / (double)Math.Max(Steps, 1);
        public double HostMsPerStep => HostSeconds * 1000 / Math.Max(Steps, 1);
        public double HostPercent => 100 * HostSeconds / Math.Max(WallSeconds, 1e-9);
    }

    private sealed record Options(string Domain, int PadLayers, int PadMlp, int MaxTokens, int Prompts, HashSet<string>? Strategies, int Threads, string Out, bool KeepBos = false, ScalarType DType = ScalarType.Float32, bool ArBetween = false, ScalarType? DraftDType = null, bool Eager = false, string PromptSet = "in", string? PdecFile = null, string? TargetGguf = null, bool RowInvariant = false)
    {
        /// <summary>Parameter overrides per strategy (<c>--param Lookahead.window=3</c>), validated by the strategy's own factory.</summary>
        public Dictionary<string, Dictionary<string, string>> Params { get; init; } = new();

        public static Options? Parse(string[] args)
        {
            var o = new Options("english", 0, 0, 96, 6, null, 1, Path.Combine(RepoRoot(), "benchmarks", "results"));
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--domain": o = o with { Domain = Next() }; break;
                    case "--pad-layers": o = o with { PadLayers = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--pad-mlp": o = o with { PadMlp = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--max-tokens": o = o with { MaxTokens = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--prompts": o = o with { Prompts = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--strategies": o = o with { Strategies = Next().Split(',').ToHashSet() }; break;
                    case "--threads": o = o with { Threads = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--out": o = o with { Out = Next() }; break;
                    case "--prompt-set": o = o with { PromptSet = Next() }; break;
                    case "--pdec": o = o with { PdecFile = Next() }; break;
                    case "--param":
                        var assignment = Next();
                        int dot = assignment.IndexOf('.'), eq = assignment.IndexOf('=');
                        if (dot <= 0 || eq <= dot + 1) throw new ArgumentException($"--param expects Strategy.name=value, got '{assignment}'");
                        string owner = assignment[..dot];
                        if (!o.Params.TryGetValue(owner, out var values)) o.Params[owner] = values = new();
                        values[assignment[(dot + 1)..eq]] = assignment[(eq + 1)..];
                        break;
                    case "--keep-bos": o = o with { KeepBos = true }; break;
                    case "--dtype": o = o with { DType = ParseDType(Next()) }; break;
                    case "--draft-dtype": o = o with { DraftDType = ParseDType(Next()) }; break;
                    case "--ar-between": o = o with { ArBetween = true }; break;
                    case "--eager": o = o with { Eager = true }; break;
                    case "--target-gguf": o = o with { TargetGguf = Next() }; break;
                    case "--row-invariant": o = o with { RowInvariant = true }; break;
                    default: return null;
                }
            }
            return o;
        }
    }

    internal static ScalarType ParseDType(string name) => name switch
    {
        "f32" or "float32" => ScalarType.Float32,
        "bf16" or "bfloat16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"--dtype {name}: expected f32 or bf16"),
    };

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("Dsl.sln not found above " + AppContext.BaseDirectory);
    }
}
