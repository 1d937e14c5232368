using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Pardec.Cli.Bench;
using Pardec.Cli.Models;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Spectre.Console;

namespace Pardec.Cli.Commands;

/// <summary>
/// <c>pardec bench</c>: strategies against their autoregressive baseline (<c>Greedy</c>, run in the same process on
/// the same prompts) on the shipped task set; a table, and JSON + markdown + SVG in <c>--out</c>.
/// </summary>
internal static class BenchCommand
{
    public const string Baseline = "Greedy";

    public static Command Create(CliContext context)
    {
        var strategies = new Option<string?>("--strategies") { Description = "Comma-separated strategy names; default: every causal library strategy" };
        var tasks = new Option<string>("--tasks") { Description = "Comma-separated tasks: english, code, copy", DefaultValueFactory = _ => "english,code,copy" };
        var prompts = new Option<int>("--prompts") { Description = "Prompts per task", DefaultValueFactory = _ => 4 };
        var output = new Option<string?>("--out") { Description = "Result directory; default: benchmarks/results/bench-<date>" };
        var decode = new DecodeOptions();
        var command = new Command("bench", "Benchmark strategies against autoregressive decoding on the shipped tasks") { strategies, tasks, prompts, output };
        decode.AddTo(command, modelDirectories: false);
        command.SetAction(parse => Cli.Guard(context, () =>
        {
            var chosen = (parse.GetValue(strategies) is { Length: > 0 } list
                    ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(StrategyCatalog.FindInLibrary)
                    : StrategyCatalog.Library.Where(s => s.Plan.Canvas.Kind == CanvasKind.Causal && s.Plan.Canvas.Batch is null))
                .Where(s => s.Plan.Name != Baseline).DistinctBy(s => s.Plan.Name).ToList();
            var taskList = parse.GetValue(tasks)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(BenchTask.Find).DistinctBy(t => t.Name).ToList();
            int promptCount = parse.GetValue(prompts);
            if (promptCount < 1) throw new CliException($"--prompts {promptCount}: must be at least 1");
            var options = decode.Generation(parse);
            var (device, dtype) = decode.Torch(parse);
            string root = parse.GetValue(decode.ModelsRoot) ?? ModelLocator.DefaultRoot();
            string outDir = parse.GetValue(output) ?? Path.Combine("benchmarks", "results", "bench-" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
            var overrides = DecodeOptions.ParseAssignments(parse.GetValue(decode.Params) ?? []);
            var engine = parse.GetValue(decode.EngineOption);
            var baseline = StrategyCatalog.FindInLibrary(Baseline);
            var promptSets = taskList.ToDictionary(t => t.Name, t => t.Prompts(root, promptCount));

            var rows = new List<BenchRow>();
            void RunAll(Action<string> progress)
            {
                foreach (var task in taskList)
                {
                    using var binding = new ModelBinding(new ModelPaths(root, task.Models), device, dtype);
                    var taskPrompts = promptSets[task.Name];
                    var ar = Measure(context, task, baseline, binding, taskPrompts, options, null, engine, new Dictionary<string, string>(), progress);
                    rows.Add(ar.Row with { Speedup = 1 });
                    foreach (var strategy in chosen)
                    {
                        if (binding.MissingFor(strategy.Plan) is string missing)
                        {
                            rows.Add(Skipped(task, strategy, $"no model at {missing}"));
                            progress($"{task.Name}/{strategy.Plan.Name} skipped");
                            continue;
                        }
                        var parameters = overrides.Where(kv => strategy.Plan.FindParam(kv.Key) is not null).ToDictionary(kv => kv.Key, kv => kv.Value);
                        try
                        {
                            var m = Measure(context, task, strategy, binding, taskPrompts, options, ar.Tokens, engine, parameters, progress);
                            rows.Add(m.Row with { Speedup = ar.Row.TokensPerSecond > 0 ? m.Row.TokensPerSecond / ar.Row.TokensPerSecond : 0 });
                        }
                        catch (NotSupportedException e)
                        {
                            rows.Add(Skipped(task, strategy, e.Message));
                            progress($"{task.Name}/{strategy.Plan.Name} skipped");
                        }
                    }
                }
            }

            int total = taskList.Count * (chosen.Count + 1);
            if (context.Console.Profile.Capabilities.Interactive)
                context.Console.Progress().Start(ctx =>
                {
                    var bar = ctx.AddTask("benchmarking", maxValue: total);
                    RunAll(done => { bar.Description = done; bar.Increment(1); });
                });
            else
                RunAll(done => context.Error.WriteLine(done));

            context.Console.Write(Table(rows));
            var settings = new
            {
                strategies = chosen.Select(s => s.Plan.Name).ToArray(), tasks = taskList.Select(t => t.Name).ToArray(), prompts = promptCount,
                maxTokens = options.MaxNewTokens, temperature = options.Temperature, seed = options.Seed, dtype = dtype?.ToString() ?? "auto",
                device = device.ToString(), threads = parse.GetValue(decode.Threads), date = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            };
            BenchReport.Write(outDir, rows, settings);
            context.Output.WriteLine($"wrote {Path.Combine(outDir, "results.json")}, results.md and speedup.svg");
            bool lossLost = rows.Any(r => r.IdenticalToAr == false);
            if (lossLost) context.Error.WriteLine("warning: a lossless strategy's tokens differ from AR's (see 'identical to AR').");
            return Cli.Success;
        }));
        return command;
    }

    private sealed record Measurement(BenchRow Row, List<int[]> Tokens);

    private static Measurement Measure(CliContext context, BenchTask task, ResolvedStrategy strategy, ModelBinding binding, IReadOnlyList<string> prompts,
                                       GenerationOptions options, List<int[]>? reference, Engine? engine, Dictionary<string, string> parameters, Action<string> progress)
    {
        var models = binding.Bind(strategy.Plan);
        int longest = prompts.Max(p => models.Tokenizer.Encode(p, options.AddBos).Length);
        int maxLength = DecodeOptions.MaxLength(strategy.Plan, longest, options.MaxNewTokens, models.Main.Config.MaxPositionEmbeddings);
        using var decoder = DecodeOptions.CreateDecoder(strategy, engine, models.Set, parameters, maxLength, context.Error);
        var text = new TextDecoder(decoder, models.Tokenizer);
        // Warm-up: JIT and first-touch allocations would otherwise be charged to whichever strategy runs first.
        text.Generate(prompts[0], options with { MaxNewTokens = Math.Min(4, options.MaxNewTokens) });

        var outputs = new List<int[]>();
        int tokens = 0, steps = 0, target = 0, draft = 0;
        var clock = Stopwatch.StartNew();
        foreach (string prompt in prompts)
        {
            var result = text.Generate(prompt, options);
            outputs.Add(result.Tokens.ToArray());
            tokens += result.Stats.Tokens; steps += result.Stats.Steps; target += result.Stats.TargetForwards; draft += result.Stats.DraftForwards;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        bool? identical = reference is null || strategy.Plan.Guarantee != Guarantee.Lossless || !options.IsGreedy
            ? (reference is null ? true : null)
            : outputs.Zip(reference).All(p => p.First.AsSpan().SequenceEqual(p.Second));
        progress($"{task.Name}/{strategy.Plan.Name}");
        return new Measurement(new BenchRow(task.Name, strategy.Plan.Name, strategy.Plan.Guarantee.ToString().ToLowerInvariant(), prompts.Count, tokens, seconds,
            seconds > 0 ? tokens / seconds : 0, 0, steps > 0 ? (double)tokens / steps : 0, target, draft, identical, null), outputs);
    }

    private static BenchRow Skipped(BenchTask task, ResolvedStrategy s, string reason) =>
        new(task.Name, s.Plan.Name, s.Plan.Guarantee.ToString().ToLowerInvariant(), 0, 0, 0, 0, 0, 0, 0, 0, null, reason);

    private static Table Table(IReadOnlyList<BenchRow> rows)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("pardec bench");
        foreach (string c in new[] { "Task", "Strategy", "Guarantee", "Speedup", "Accepted/step", "tok/s", "Tokens", "Identical to AR" })
            table.AddColumn(c);
        foreach (var r in rows)
        {
            if (r.Skipped is not null) { table.AddRow(r.Task, r.Strategy, r.Guarantee, "[grey]skipped[/]", "", "", "", Markup.Escape(r.Skipped)); continue; }
            string identical = BenchReport.Identical(r) switch { "yes" => "[green]yes[/]", "NO" => "[red]NO[/]", var o => o };
            table.AddRow(r.Task, r.Strategy, r.Guarantee, string.Create(CultureInfo.InvariantCulture, $"{r.Speedup:F2}×"),
                r.MeanAcceptedPerStep.ToString("F2", CultureInfo.InvariantCulture), r.TokensPerSecond.ToString("F1", CultureInfo.InvariantCulture),
                r.Tokens.ToString(CultureInfo.InvariantCulture), identical);
        }
        return table;
    }
}
