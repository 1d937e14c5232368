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
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

/// <summary>
/// The quality/parallelism curve of the masked commit rules (ParallelBench's point, issue 17 item 4): every lossy rule's
/// knob is swept, under each cache mode, and each point is measured as tokens per step against (a) agreement with
/// one-token-per-step decoding (<c>LladaOneByOne</c>: commit one, no cache) and (b) the perplexity of its output under
/// the causal target. The lossless <c>DllmDraftVerify</c> is asserted equal to one-by-one; the causal target's own greedy
/// decoding (AR) runs on the same prompts for wall-clock tokens/s. Every configuration is a strategy written in the
/// language (the text is in the results) and run by the interpreter, AR included, so the engines' host costs match.
/// </summary>
public static class DiffusionCurves
{
    private const string Usage = """
        dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- diffusion-curves [options]
          --model DIR         masked-diffusion LM (default <repo>/models/english/diffusion)
          --causal DIR        causal target: perplexity scorer and the AR baseline (default <repo>/models/english/target)
          --length N          new tokens per prompt (default 64)
          --per-set K         prompts from each held-out set (default 6; sets: models/eval/prompts.english.jsonl,
                              tools/prompts.english-ood.jsonl, benchmarks/prompts/english-ood.jsonl)
          --prompt-tokens N   keep each prompt's first N tokens, BOS included (default 48)
          --rules a,b,...     subset of: one,top,confidence,factor,margin,credit,local (default all)
          --caches a,b,...    subset of: none,prefix,dual (default all)
          --block B           block size (default 32)
          --threads T         torch threads (default 1)
          --out DIR           results folder (default benchmarks/results); writes diffusion-curves.{md,json,svg}
        """;

    private static readonly string[] AllCaches = ["none", "prefix", "dual"];

    /// <summary>A swept rule: its name, the knob, the values (least to most parallel) and the commit line for a value.</summary>
    private sealed record Rule(string Name, string Paper, string Knob, double[] Values, Func<double, string> Commit, string? State = null, string? Update = null);

    private static readonly Rule[] Rules =
    [
        new("one", "LLaDA one-by-one (caches only)", "-", [double.NaN], _ => "commit one"),
        new("top", "LLaDA top-k", "k", [2, 4, 8, 16], v => $"commit top {(int)v}"),
        new("confidence", "Fast-dLLM threshold", "threshold", [0.9, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02], v => Inv($"commit confidence >= {v}, at least 1")),
        new("factor", "Fast-dLLM factor", "f", [0.5, 1, 1.5, 2, 3, 4], v => Inv($"commit factor({v:0.0##}), at least 1")),
        new("margin", "early commit (Prophet margin)", "margin", [0.5, 0.3, 0.15, 0.05, 0.02], v => Inv($"commit margin >= {v}, at least 1")),
        new("credit", "CreditDecoding (decay 0.7)", "threshold", [0.9, 0.5, 0.3, 0.1, 0.05], v => Inv($"commit credit(trace) >= {v}, at least 1"),
            State: "state trace = credits(decay: 0.7)", Update: "update trace from predict"),
        new("pipelined", "D2F pipelined blocks (add 0.5, ahead 1; dual cache refused)", "threshold", [0.9, 0.3, 0.1, 0.05], v => Inv($"commit pipelined(threshold: {v}, add: 0.5, ahead: 1), at least 1")),
        new("local", "LocalLeap (radius 4; its relaxed bar 0.5 is fixed and must not exceed the anchor, so the anchor stops at 0.5)", "anchor", [0.9, 0.7, 0.5], v => Inv($"commit local(anchor: {v}, radius: 4), at least 1")),
    ];

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    public static int Run(string[] args)
    {
        Options? o;
        try { o = Options.Parse(args); }
        catch (Exception e) when (e is ArgumentException or FormatException) { Console.WriteLine(e.Message); o = null; }
        if (o is null) { Console.WriteLine(Usage); return 2; }
        torch.set_num_threads(o.Threads);
        string root = StrategyBenchmark.RepoRoot();
        string loadAtStart = File.ReadAllText("/proc/loadavg").Trim();
        var started = DateTime.UtcNow;
        using var diffusion = PretrainedModel.Load(o.Model, CPU, ScalarType.Float32, requireTokenizer: true);
        var tokenizer = diffusion.Tokenizer!;
        if (diffusion.Config.MaskTokenId is null) throw new ArgumentException($"{o.Model} is not a masked-diffusion LM (no mask_token_id).");
        using var causal = PretrainedModel.LoadModel(o.Causal, CPU, ScalarType.Float32);
        if (causal.Config.VocabSize != diffusion.Config.VocabSize)
            throw new ArgumentException($"The causal model's vocabulary ({causal.Config.VocabSize}) differs from the diffusion model's ({diffusion.Config.VocabSize}).");
        var timedDiffusion = new TimedModel(diffusion.Model);
        var timedCausal = new TimedModel(causal);
        var masked = new ModelSet().Add("model", timedDiffusion);
        var ar = new ModelSet().Add("target", timedCausal);

        string[] sets = ["models/eval/prompts.english.jsonl", "tools/prompts.english-ood.jsonl", "benchmarks/prompts/english-ood.jsonl"];
        var prompts = new List<(string Set, string Id, int[] Ids)>();
        foreach (var set in sets)
            foreach (var line in File.ReadLines(Path.Combine(root, set)).Where(l => l.Trim().Length > 0).Take(o.PerSet))
            {
                var e = JsonDocument.Parse(line).RootElement;
                string id = e.TryGetProperty("id", out var i) ? i.GetString()! : $"{Path.GetFileNameWithoutExtension(set)}-{prompts.Count}";
                prompts.Add((set, id, tokenizer.Encode(e.GetProperty("prompt").GetString()!, addBos: true).Take(o.PromptTokens).ToArray()));
            }
        int context = Math.Min(diffusion.Config.MaxPositionEmbeddings, causal.Config.MaxPositionEmbeddings);
        int length = Math.Min(o.Length, context - prompts.Max(p => p.Ids.Length));
        var options = new GenerationOptions { MaxNewTokens = length, StopOnEos = true };
        Console.WriteLine($"diffusion-curves: {prompts.Count} prompts (≤{o.PromptTokens} tokens), {length} new tokens, block {o.Block}, {o.Threads} thread(s); CPU {Machine.Cpu}; load {loadAtStart}");

        // The configurations: reference first, then the lossless rule, then every swept point.
        var configs = new List<Config> { Masked("reference", "one", double.NaN, "none", "commit one", o.Block, null, null) };
        configs.Add(Masked("lossless", "draft_verify", double.NaN, "none", "commit draft_verify", o.Block, null, null));
        configs.Add(Masked("lossless", "verify_tree", double.NaN, "none", "commit verify_tree(depth: 6, width: 2)", o.Block, null, null));
        foreach (var rule in Rules.Where(r => o.Rules is null || o.Rules.Contains(r.Name)))
            foreach (var cache in AllCaches.Where(c => o.Caches is null || o.Caches.Contains(c)))
                foreach (var v in rule.Values)
                {
                    if (rule.Name == "one" && cache == "none") continue; // that is the reference
                    if (rule.Name == "pipelined" && cache == "dual") continue; // PDEC1060: the dual cache predicts the block only
                    configs.Add(Masked(rule.Name, rule.Name, v, cache, rule.Commit(v), o.Block, rule.State, rule.Update) with { Knob = rule.Knob });
                }

        var rows = new List<Row>();
        var failures = new List<string>();
        int[][]? reference = null;

        // AR on the causal target (interpreted Greedy, as every masked row is interpreted), run before the masked rows and
        // again after each rule's group: the machine is shared, so each masked row is compared with the AR runs around it.
        var arConfig = new Config("ar", "greedy", double.NaN, "kv", ArText, "-");
        var arRuns = new List<Row>();
        Row RunAr()
        {
            int[][]? none = null;
            var r = RunOne(arConfig, ar, timedCausal, causal, prompts, options, context, ref none, isReference: false);
            arRuns.Add(r);
            return r;
        }
        RunAr();
        foreach (var group in configs.GroupBy(c => c.Kind is "reference" or "lossless" ? "" : c.Rule))
        {
            var before = arRuns[^1];
            var groupRows = new List<Row>();
            foreach (var config in group)
            {
                var row = RunOne(config, masked, timedDiffusion, causal, prompts, options, context, ref reference, config.Kind == "reference");
                rows.Add(row);
                groupRows.Add(row);
                if (config.Kind == "lossless" && !row.ExactMatch)
                {
                    string m = $"LOSSLESS VIOLATION: commit {config.Rule} differs from one-by-one (agreement {row.Agreement:P2}).";
                    failures.Add(m);
                    Console.Error.WriteLine(m);
                }
            }
            var after = RunAr();
            double arTps = (before.TokensPerSecond + after.TokensPerSecond) / 2;
            foreach (var r in groupRows) { r.ArTokensPerSecond = arTps; r.SpeedupOverAr = r.TokensPerSecond / arTps; }
        }
        var baseRow = rows[0];
        foreach (var r in rows) r.SpeedupOverOneByOne = r.TokensPerSecond / baseRow.TokensPerSecond;
        // The AR row reported: every run pooled (their outputs are identical; only the times differ).
        var arRow = arRuns[0];
        var arRates = arRuns.Select(r => Math.Round(r.TokensPerSecond, 1)).ToArray();
        arRow.WallSeconds = arRuns.Average(r => r.WallSeconds);
        arRow.ForwardSeconds = arRuns.Average(r => r.ForwardSeconds);
        arRow.ArRunsTokensPerSecond = arRates;
        arRow.SpeedupOverOneByOne = arRow.TokensPerSecond / baseRow.TokensPerSecond;
        arRow.SpeedupOverAr = 1;
        arRow.ArTokensPerSecond = arRow.TokensPerSecond;
        var ended = DateTime.UtcNow;
        Write(o, args, rows, arRow, failures, prompts, length, loadAtStart, started, ended, diffusion, causal);
        if (failures.Count > 0) { Console.Error.WriteLine("FAILED: " + string.Join("; ", failures)); return 1; }
        return 0;
    }

    private const string ArText = """
        strategy CurveAr
          guarantee lossless
          canvas causal
          model target: causal
          step
            verify target
            accept greedy
          stop eos, max_tokens
        end
        """;

    private static Config Masked(string kind, string rule, double value, string cache, string commit, int block, string? state, string? update)
    {
        string name = "Curve_" + rule + "_" + cache;
        var text = new StringBuilder();
        text.AppendLine(Inv($"strategy {name}"));
        text.AppendLine(kind is "reference" or "lossless" ? "  guarantee lossless" : "  guarantee none");
        text.AppendLine(Inv($"  canvas masked(block: {block})"));
        text.AppendLine("  cache " + cache);
        text.AppendLine("  model model: masked");
        if (state is not null) text.AppendLine("  " + state);
        text.AppendLine("  step");
        text.AppendLine("    predict model");
        text.AppendLine("    " + commit);
        if (update is not null) text.AppendLine("    " + update);
        text.AppendLine("  stop eos, max_tokens");
        text.AppendLine("end");
        return new Config(kind, rule, value, cache, text.ToString(), "-");
    }

    private static Row RunOne(Config config, ModelSet models, TimedModel timed, ICausalLM causal,
                              List<(string Set, string Id, int[] Ids)> prompts, GenerationOptions options, int context,
                              ref int[][]? reference, bool isReference)
    {
        var compiled = PdecCompiler.Compile(config.Text);
        var errors = compiled.Diagnostics.Where(d => d.Severity == Pardec.Dsl.Diagnostics.DiagnosticSeverity.Error).ToList();
        if (errors.Count > 0) throw new InvalidOperationException($"{config.Rule} {config.Value} {config.Cache}: " + string.Join("; ", errors) + "\n" + config.Text);
        var plan = compiled.Plans[0];
        using var decoder = PlanInterpreter.Create(plan, models, null, context);
        decoder.Generate(prompts[0].Ids, options with { MaxNewTokens = 8 }); // warm-up: JIT tiers, allocator
        var row = new Row { Kind = config.Kind, Rule = config.Rule, Knob = config.Knob, Value = double.IsNaN(config.Value) ? null : config.Value, Cache = config.Cache, Strategy = config.Text };
        var outputs = new int[prompts.Count][];
        for (int i = 0; i < prompts.Count; i++)
        {
            timed.ResetTimer();
            long start = Stopwatch.GetTimestamp();
            var result = decoder.Generate(prompts[i].Ids, options);
            row.WallSeconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
            row.ForwardSeconds += timed.ForwardTime.TotalSeconds;
            outputs[i] = result.Tokens.ToArray();
            row.Tokens += result.Stats.Tokens;
            row.Steps += result.Stats.Steps;
            row.CanvasForwards += result.Stats.TargetForwards;
            var (nll, count) = DiffusionBenchmark.GeneratedNll(causal, prompts[i].Ids, outputs[i]);
            row.Nll += nll;
            row.ScoredTokens += count;
        }
        if (isReference) reference = outputs;
        if (reference is not null)
        {
            int equal = 0, compared = 0;
            for (int i = 0; i < outputs.Length; i++)
            {
                // Positions past the shorter text count as disagreement: a rule that ends early (or late) changed them.
                int n = Math.Max(outputs[i].Length, reference[i].Length);
                for (int j = 0; j < Math.Min(outputs[i].Length, reference[i].Length); j++) if (outputs[i][j] == reference[i][j]) equal++;
                compared += n;
            }
            row.Agreement = compared == 0 ? 1 : (double)equal / compared;
            row.ExactMatch = outputs.Zip(reference).All(p => p.First.SequenceEqual(p.Second));
        }
        var all = outputs.SelectMany(t => t).ToArray();
        row.TopTokenShare = all.Length == 0 ? 0 : (double)all.GroupBy(t => t).Max(g => g.Count()) / all.Length;
        row.DistinctTokens = all.Distinct().Count();
        row.Outputs = outputs;
        Console.WriteLine(Inv($"  {row.Label,-34} {row.TokensPerStep,6:F2} tok/step  agree {row.Agreement * 100,5:F1}%  ppl {row.Perplexity,6:F2}  {row.TokensPerSecond,7:F1} tok/s  ({row.Tokens} tokens, model {row.ModelPercent:F0}%)"));
        return row;
    }

    private static void Write(Options o, string[] args, List<Row> rows, Row ar, List<string> failures,
                              List<(string Set, string Id, int[] Ids)> prompts, int length, string loadAtStart,
                              DateTime started, DateTime ended, PretrainedModel diffusion, ICausalLM causal)
    {
        Directory.CreateDirectory(o.Out);
        string command = "nice dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- diffusion-curves" + (args.Length > 0 ? " " + string.Join(' ', args) : "");
        string loadAtEnd = File.ReadAllText("/proc/loadavg").Trim();
        string date = ended.ToString("u", CultureInfo.InvariantCulture);
        var lossless = rows.First(r => r.Kind == "lossless");
        var json = new
        {
            command, date, minutes = (ended - started).TotalMinutes, cpu = Machine.Cpu, loadAtStart, loadAtEnd, threads = o.Threads, dtype = "float32",
            model = o.Model, causal = o.Causal, parameters = PaddedModel.Parameters(diffusion.Model), block = o.Block, length,
            prompts = prompts.Select(p => new { set = p.Set, id = p.Id, tokens = p.Ids.Length }).ToArray(),
            losslessExact = lossless.ExactMatch, losslessFailures = failures, ar, rows,
        };
        File.WriteAllText(Path.Combine(o.Out, "diffusion-curves.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        File.WriteAllText(Path.Combine(o.Out, "diffusion-curves.svg"), Svg(rows, ar, command, date));

        var md = new StringBuilder();
        md.AppendLine(Inv($"# Masked diffusion: the quality/parallelism curve ({PaddedModel.Parameters(diffusion.Model) / 1e6:F1}M-parameter diffusion LM)"));
        md.AppendLine();
        md.AppendLine(Inv($"Command: `{command}` ({date}, {(ended - started).TotalMinutes:F1} min, {o.Threads} torch thread(s), f32; CPU: {Machine.Cpu}; load average at start `{loadAtStart}`, at end `{loadAtEnd}`). Raw numbers and every output: `diffusion-curves.json`; plot: `diffusion-curves.svg`."));
        md.AppendLine();
        md.AppendLine(Inv($"- Diffusion LM `{Rel(o.Model)}`, block {o.Block}; scorer and AR baseline: the causal target `{Rel(o.Causal)}`."));
        md.AppendLine(Inv($"- {prompts.Count} held-out prompts: the first {o.PerSet} of each of {string.Join(", ", prompts.Select(p => p.Set).Distinct().Select(s => "`" + s + "`"))} (the first two are the sets `models/english/diffusion/bars.json` used), each cut to its first {o.PromptTokens} tokens (BOS included); {length} new tokens, greedy, ending at EOS."));
        md.AppendLine("- tokens/step = generated tokens / loop steps (one model call each; a draft-verify step forwards several canvases in one batched call). agreement = positions equal to one-by-one's output (commit one, no cache) over the longer of the two texts, all prompts pooled; ppl = exp(mean NLL of the generated tokens given the prompt) under the causal target, teacher-forced.");
        md.AppendLine("- Every row is a strategy in the language (its text is in the JSON) run by the interpreter; the AR row is `verify target / accept greedy` on the causal target, also interpreted, so host costs are alike. AR runs before the masked rows and again after each rule's group (the machine is shared); \"x AR\" divides a row's tok/s by the mean of the AR runs around its group.");
        md.AppendLine();
        foreach (var l in rows.Where(r => r.Kind == "lossless"))
            md.AppendLine(Inv($"**Lossless check: {l.Label} {(l.ExactMatch ? "EQUALS" : "DIFFERS FROM")} one-by-one on every prompt** ({l.Tokens} tokens, agreement {l.Agreement * 100:F1}%, {l.TokensPerStep:F2} tokens/step, {l.CanvasForwards} canvases forwarded).")).AppendLine();
        foreach (var f in failures) md.AppendLine("- " + f);
        md.AppendLine();
        md.AppendLine("## Against AR on the causal target");
        md.AppendLine();
        md.AppendLine("| decoder | tokens/step | agreement | ppl | tok/s | x one-by-one | x AR |");
        md.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        md.AppendLine(Inv($"| AR greedy, causal target (KV cache; mean of {ar.ArRunsTokensPerSecond!.Length} runs: {string.Join(", ", ar.ArRunsTokensPerSecond!)} tok/s) | {ar.TokensPerStep:F2} | - | {ar.Perplexity:F2} | {ar.TokensPerSecond:F1} | {ar.SpeedupOverOneByOne:F2}x | 1.00x |"));
        foreach (var r in new[] { rows[0] }.Concat(rows.Where(r => r.Kind == "lossless")).Concat(rows.Where(r => r.Kind != "reference" && r.Kind != "lossless").OrderByDescending(r => r.TokensPerSecond).Take(5)))
            md.AppendLine(Inv($"| {r.Label} | {r.TokensPerStep:F2} | {r.Agreement * 100:F1}% | {r.Perplexity:F2} | {r.TokensPerSecond:F1} | {r.SpeedupOverOneByOne:F2}x | {r.SpeedupOverAr:F2}x |"));
        var fastestFaithful = rows.Where(r => r.Agreement >= 0.9).OrderByDescending(r => r.TokensPerSecond).FirstOrDefault();
        if (fastestFaithful is not null)
            md.AppendLine(Inv($"| fastest with agreement >= 90%: {fastestFaithful.Label} | {fastestFaithful.TokensPerStep:F2} | {fastestFaithful.Agreement * 100:F1}% | {fastestFaithful.Perplexity:F2} | {fastestFaithful.TokensPerSecond:F1} | {fastestFaithful.SpeedupOverOneByOne:F2}x | {fastestFaithful.SpeedupOverAr:F2}x |"));
        md.AppendLine();
        md.AppendLine("## Every point");
        md.AppendLine();
        md.AppendLine("| rule | knob | value | cache | tokens/step | agreement | exact | ppl | tok/s | x one-by-one | x AR | distinct | top-token share | model time |");
        md.AppendLine("| --- | --- | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in rows)
            md.AppendLine(Inv($"| {r.Rule} | {r.Knob} | {(r.Value is double v ? v.ToString("0.###", CultureInfo.InvariantCulture) : "-")} | {r.Cache} | {r.TokensPerStep:F2} | {r.Agreement * 100:F1}% | {(r.ExactMatch ? "yes" : "no")} | {r.Perplexity:F2} | {r.TokensPerSecond:F1} | {r.SpeedupOverOneByOne:F2}x | {r.SpeedupOverAr:F2}x | {r.DistinctTokens} | {r.TopTokenShare * 100:F0}% | {r.ModelPercent:F0}% |"));
        md.AppendLine();
        md.AppendLine(Inv($"Reference ppl: one-by-one {rows[0].Perplexity:F2}; AR greedy on the causal target {ar.Perplexity:F2}. Rules: {string.Join("; ", Rules.Select(r => $"`{r.Name}` = {r.Paper}"))}; `draft_verify` = free draft-and-verify (lossless)."));
        md.AppendLine();
        md.AppendLine("<!-- notes -->");
        File.WriteAllText(Path.Combine(o.Out, "diffusion-curves.md"), md.ToString());
        Console.WriteLine($"wrote {Path.Combine(o.Out, "diffusion-curves")}.md/.json/.svg");
    }

    private static string Rel(string path)
    {
        string root = StrategyBenchmark.RepoRoot();
        return Path.GetRelativePath(root, path);
    }

    // ---- the plot: three panels sharing the x axis (tokens per step), written as SVG by hand ----

    private static readonly Dictionary<string, string> Colours = new()
    {
        ["one"] = "#555555", ["top"] = "#8c564b", ["confidence"] = "#1f77b4", ["factor"] = "#ff7f0e",
        ["margin"] = "#2ca02c", ["credit"] = "#9467bd", ["local"] = "#d62728", ["draft_verify"] = "#000000",
    };

    private static readonly Dictionary<string, string> Dashes = new() { ["none"] = "", ["prefix"] = "6,3", ["dual"] = "2,3" };

    private static string Svg(List<Row> rows, Row ar, string command, string date)
    {
        const int panelW = 360, panelH = 300, left = 60, top = 50, gap = 70;
        int width = left + 3 * panelW + 2 * gap + 170, height = top + panelH + 90;
        var svg = new StringBuilder();
        svg.AppendLine(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">"));
        svg.AppendLine(Inv($"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>"));
        svg.AppendLine(Inv($"<text x=\"{left}\" y=\"18\" font-size=\"14\">Masked diffusion: quality vs parallelism (line = rule, dash = cache: solid none, long prefix, dotted dual)</text>"));
        svg.AppendLine(Inv($"<text x=\"{left}\" y=\"34\" fill=\"#666\">{Escape(command)} · {date} · {Escape(Machine.Cpu)}</text>"));
        double xMax = Math.Ceiling(rows.Max(r => r.TokensPerStep) + 0.25);
        double pplMin = Math.Min(rows.Min(r => r.Perplexity), ar.Perplexity), pplMax = Math.Max(rows.Max(r => r.Perplexity), ar.Perplexity);
        double tpsMax = Math.Max(rows.Max(r => r.TokensPerSecond), ar.TokensPerSecond) * 1.08;
        var panels = new (string Title, string YLabel, double YMin, double YMax, Func<Row, double> Y, bool Log, double? Line, string? LineLabel)[]
        {
            ("agreement with one-by-one", "agreement (%)", 0, 100, r => r.Agreement * 100, false, null, null),
            ("perplexity under the causal target", "ppl (log scale)", Math.Log(pplMin * 0.9), Math.Log(pplMax * 1.1), r => Math.Log(r.Perplexity), true, Math.Log(ar.Perplexity), $"AR greedy {ar.Perplexity:F1}"),
            ("wall clock, one CPU thread", "tokens/s", 0, tpsMax, r => r.TokensPerSecond, false, ar.TokensPerSecond, $"AR {ar.TokensPerSecond:F0} tok/s"),
        };
        for (int k = 0; k < panels.Length; k++)
        {
            var p = panels[k];
            int x0 = left + k * (panelW + gap), y0 = top;
            double X(double v) => x0 + (v - 0) / xMax * panelW;
            double Y(double v) => y0 + panelH - (v - p.YMin) / Math.Max(p.YMax - p.YMin, 1e-9) * panelH;
            svg.AppendLine(Inv($"<rect x=\"{x0}\" y=\"{y0}\" width=\"{panelW}\" height=\"{panelH}\" fill=\"none\" stroke=\"#999\"/>"));
            svg.AppendLine(Inv($"<text x=\"{x0}\" y=\"{y0 - 6}\" font-weight=\"bold\">{p.Title}</text>"));
            for (int t = 0; t <= (int)xMax; t++)
            {
                svg.AppendLine(Inv($"<line x1=\"{X(t):F1}\" y1=\"{y0 + panelH}\" x2=\"{X(t):F1}\" y2=\"{y0 + panelH + 4}\" stroke=\"#999\"/><text x=\"{X(t):F1}\" y=\"{y0 + panelH + 16}\" text-anchor=\"middle\">{t}</text>"));
            }
            svg.AppendLine(Inv($"<text x=\"{x0 + panelW / 2}\" y=\"{y0 + panelH + 32}\" text-anchor=\"middle\">tokens per step</text>"));
            for (int t = 0; t <= 4; t++)
            {
                double v = p.YMin + (p.YMax - p.YMin) * t / 4;
                string label = p.Log ? Math.Exp(v).ToString("0.0", CultureInfo.InvariantCulture) : v.ToString(p.YMax > 100 ? "0" : "0", CultureInfo.InvariantCulture);
                svg.AppendLine(Inv($"<line x1=\"{x0 - 4}\" y1=\"{Y(v):F1}\" x2=\"{x0 + panelW}\" y2=\"{Y(v):F1}\" stroke=\"#eee\"/><text x=\"{x0 - 6}\" y=\"{Y(v) + 4:F1}\" text-anchor=\"end\">{label}</text>"));
            }
            svg.AppendLine(Inv($"<text transform=\"translate({x0 - 42},{y0 + panelH / 2}) rotate(-90)\" text-anchor=\"middle\">{p.YLabel}</text>"));
            if (p.Line is double line)
            {
                svg.AppendLine(Inv($"<line x1=\"{x0}\" y1=\"{Y(line):F1}\" x2=\"{x0 + panelW}\" y2=\"{Y(line):F1}\" stroke=\"#e377c2\" stroke-width=\"1.5\" stroke-dasharray=\"8,2,2,2\"/>"));
                svg.AppendLine(Inv($"<text x=\"{x0 + panelW - 4}\" y=\"{Y(line) - 4:F1}\" text-anchor=\"end\" fill=\"#e377c2\">{Escape(p.LineLabel!)}</text>"));
            }
            foreach (var group in rows.Where(r => r.Kind != "reference" && r.Kind != "lossless").GroupBy(r => (r.Rule, r.Cache)))
            {
                var pts = group.OrderBy(r => r.TokensPerStep).Select(r => (X(r.TokensPerStep), Y(p.Y(r)))).ToList();
                string colour = Colours.GetValueOrDefault(group.Key.Rule, "#333");
                if (pts.Count > 1)
                    svg.AppendLine(Inv($"<polyline points=\"{string.Join(' ', pts.Select(q => Inv($"{q.Item1:F1},{q.Item2:F1}")))}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" stroke-dasharray=\"{Dashes[group.Key.Cache]}\"/>"));
                foreach (var (x, y) in pts)
                    svg.AppendLine(Inv($"<circle cx=\"{x:F1}\" cy=\"{y:F1}\" r=\"2.5\" fill=\"{colour}\"/>"));
            }
            foreach (var r in rows.Where(r => r.Kind is "reference" or "lossless"))
            {
                string shape = r.Kind == "reference" ? "#555" : "#000";
                double x = X(r.TokensPerStep), y = Y(p.Y(r));
                svg.AppendLine(Inv($"<rect x=\"{x - 4:F1}\" y=\"{y - 4:F1}\" width=\"8\" height=\"8\" fill=\"{(r.Kind == "lossless" ? "none" : shape)}\" stroke=\"{shape}\" stroke-width=\"1.5\"/>"));
            }
        }
        int lx = left + 3 * panelW + 2 * gap + 15, ly = top + 10;
        foreach (var (rule, colour) in Colours)
        {
            if (rule == "draft_verify") continue;
            svg.AppendLine(Inv($"<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{lx + 22}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"/><text x=\"{lx + 28}\" y=\"{ly + 4}\">{rule}</text>"));
            ly += 16;
        }
        ly += 6;
        foreach (var (cache, dash) in Dashes)
        {
            svg.AppendLine(Inv($"<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{lx + 22}\" y2=\"{ly}\" stroke=\"#333\" stroke-width=\"1.5\" stroke-dasharray=\"{dash}\"/><text x=\"{lx + 28}\" y=\"{ly + 4}\">cache {cache}</text>"));
            ly += 16;
        }
        ly += 6;
        svg.AppendLine(Inv($"<rect x=\"{lx + 7}\" y=\"{ly - 4}\" width=\"8\" height=\"8\" fill=\"#555\"/><text x=\"{lx + 28}\" y=\"{ly + 4}\">one-by-one</text>"));
        ly += 16;
        svg.AppendLine(Inv($"<rect x=\"{lx + 7}\" y=\"{ly - 4}\" width=\"8\" height=\"8\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.5\"/><text x=\"{lx + 28}\" y=\"{ly + 4}\">DllmDraftVerify</text>"));
        ly += 16;
        svg.AppendLine(Inv($"<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{lx + 22}\" y2=\"{ly}\" stroke=\"#e377c2\" stroke-width=\"1.5\" stroke-dasharray=\"8,2,2,2\"/><text x=\"{lx + 28}\" y=\"{ly + 4}\">AR, causal target</text>"));
        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");

    private sealed record Config(string Kind, string Rule, double Value, string Cache, string Text, string Knob);

    public sealed class Row
    {
        public string Kind { get; set; } = "";
        public string Rule { get; set; } = "";
        public string Knob { get; set; } = "";
        public double? Value { get; set; }
        public string Cache { get; set; } = "";
        public int Tokens { get; set; }
        public int Steps { get; set; }
        public int CanvasForwards { get; set; }
        public double WallSeconds { get; set; }
        public double ForwardSeconds { get; set; }
        public double Nll { get; set; }
        public int ScoredTokens { get; set; }
        public double Agreement { get; set; } = double.NaN;
        public bool ExactMatch { get; set; }
        public double SpeedupOverOneByOne { get; set; }
        public double SpeedupOverAr { get; set; }
        /// <summary>The AR tokens/s this row is compared with: the mean of the AR runs just before and after its group.</summary>
        public double ArTokensPerSecond { get; set; }
        public double[]? ArRunsTokensPerSecond { get; set; }
        public int DistinctTokens { get; set; }
        public double TopTokenShare { get; set; }
        public string Strategy { get; set; } = "";
        public int[][] Outputs { get; set; } = [];
        public double TokensPerSecond => Tokens / Math.Max(WallSeconds, 1e-9);
        public double TokensPerStep => (double)Tokens / Math.Max(Steps, 1);
        public double Perplexity => ScoredTokens == 0 ? double.NaN : Math.Exp(Nll / ScoredTokens);
        public double ModelPercent => 100 * ForwardSeconds / Math.Max(WallSeconds, 1e-9);
        public string Label => Kind switch
        {
            "reference" => "one-by-one (commit one, cache none)",
            "lossless" => Rule == "verify_tree" ? "DllmSelfSpeculative (verify_tree(depth: 6, width: 2), cache none)" : "DllmDraftVerify (draft_verify, cache none)",
            "ar" => "AR greedy (causal target)",
            _ => Value is double v ? Inv($"{Rule} {Knob}={v:0.###}, cache {Cache}") : Inv($"{Rule}, cache {Cache}"),
        };
    }

    private sealed record Options(string Model, string Causal, int Length, int PerSet, int PromptTokens, HashSet<string>? Rules,
                                  HashSet<string>? Caches, int Block, int Threads, string Out)
    {
        public static Options? Parse(string[] args)
        {
            string root = StrategyBenchmark.RepoRoot();
            var o = new Options(Path.Combine(root, "models", "english", "diffusion"), Path.Combine(root, "models", "english", "target"),
                                64, 6, 48, null, null, 32, 1, Path.Combine(root, "benchmarks", "results"));
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
                switch (args[i])
                {
                    case "--model": o = o with { Model = Path.GetFullPath(Next()) }; break;
                    case "--causal": o = o with { Causal = Path.GetFullPath(Next()) }; break;
                    case "--length": o = o with { Length = Int() }; break;
                    case "--per-set": o = o with { PerSet = Int() }; break;
                    case "--prompt-tokens": o = o with { PromptTokens = Int() }; break;
                    case "--rules": o = o with { Rules = Next().Split(',').ToHashSet() }; break;
                    case "--caches": o = o with { Caches = Next().Split(',').ToHashSet() }; break;
                    case "--block": o = o with { Block = Int() }; break;
                    case "--threads": o = o with { Threads = Int() }; break;
                    case "--out": o = o with { Out = Path.GetFullPath(Next()) }; break;
                    default: return null;
                }
            }
            if (o.Length <= 0 || o.PerSet <= 0 || o.PromptTokens <= 1 || o.Threads <= 0 || o.Block <= 0) return null;
            return o;
        }
    }
}
