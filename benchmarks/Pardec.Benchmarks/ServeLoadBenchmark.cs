using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pardec.Dsl;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Runtime.Tokenization;
using Pardec.Server;
using Pardec.Server.Batching;
using Pardec.Server.Metrics;
using Pardec.Strategies;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

/// <summary>
/// The serving load benchmark (issue 19, item 3): <c>pardec serve</c> in-process on loopback (Kestrel, the same
/// <see cref="PardecServer.Build"/> the CLI runs) with the shipped English target and draft, driven by closed-loop
/// streaming clients (each sends its next request when the last one ends) at 1, 4, 16 and 64 concurrent clients, for
/// plain Greedy and SpeculativeGreedy with <c>--speculation always</c> and <c>auto</c>. Per configuration: generated
/// tok/s, p50/p99 time to first token and inter-token latency as the clients see them, accepted drafts per step, errors,
/// and whether every reply equals its solo greedy decode. The three deployments run one after the other at each
/// concurrency, so their ratios come from the same minute of a shared machine; the engine thread is the only torch
/// thread user (one torch thread).
/// </summary>
internal static class ServeLoadBenchmark
{
    private const string Usage = """
        dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- serve-load [options]
          --concurrency 1,4,16,64   concurrent clients per level (default 1,4,16,64)
          --max-tokens N            max_tokens of every request (default 64; greedy, EOS ends a reply early)
          --requests N              measured requests per configuration, at least (default 64)
          --per-client K            measured requests per client, at least (default 6)
          --batch N                 rows of every deployment (default: as many as the level's clients, so no request
                                    queues; 8 is the server's own default, with which more clients queue for a row)
          --out PATH                result files PATH.md and PATH.json (default benchmarks/results/serve-load-<date>)
        """;

    /// <summary>A served configuration: the deployment id, its strategy and when it drafts.</summary>
    private sealed record Config(string Name, string Strategy, SpeculationMode Speculation, string Label);

    private static readonly Config[] Configs =
    [
        new("greedy", "Greedy", SpeculationMode.Off, "Greedy (no speculation)"),
        new("spec-always", "SpeculativeGreedy", SpeculationMode.Always, "SpeculativeGreedy, `--speculation always`"),
        new("spec-auto", "SpeculativeGreedy", SpeculationMode.Auto, "SpeculativeGreedy, `--speculation auto`"),
    ];

    private sealed record Options(int[] Concurrency, int MaxTokens, int Requests, int PerClient, int? Batch, string? Out)
    {
        public static Options? Parse(string[] args)
        {
            var o = new Options([1, 4, 16, 64], 64, 64, 6, null, null);
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--concurrency": o = o with { Concurrency = Next().Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray() }; break;
                    case "--max-tokens": o = o with { MaxTokens = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--requests": o = o with { Requests = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--per-client": o = o with { PerClient = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--batch": o = o with { Batch = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--out": o = o with { Out = Next() }; break;
                    default: return null;
                }
            }
            return o.Concurrency.All(c => c > 0) && o.MaxTokens > 0 && o.Requests > 0 && o.PerClient > 0 && o.Batch is null or > 0 ? o : null;
        }

        public string CommandLine()
        {
            var s = new StringBuilder("dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- serve-load");
            if (!Concurrency.SequenceEqual([1, 4, 16, 64])) s.Append(" --concurrency ").Append(string.Join(',', Concurrency));
            if (MaxTokens != 64) s.Append(CultureInfo.InvariantCulture, $" --max-tokens {MaxTokens}");
            if (Requests != 64) s.Append(CultureInfo.InvariantCulture, $" --requests {Requests}");
            if (PerClient != 6) s.Append(CultureInfo.InvariantCulture, $" --per-client {PerClient}");
            if (Batch is { } b) s.Append(CultureInfo.InvariantCulture, $" --batch {b}");
            return s.ToString();
        }
    }

    /// <summary>A prompt's solo greedy decode: its text, and the text length after each of its tokens (to count the
    /// tokens a streamed chunk carried).</summary>
    private sealed record Reference(string Prompt, int PromptTokens, IReadOnlyList<int> Tokens, string Text, int[] Offsets);

    /// <summary>One streamed request as the client saw it.</summary>
    private sealed record Sample(int Prompt, long Sent, long Ended, List<(long At, int Length)> Chunks, string Text, string? Error,
                                 int CompletionTokens, int Steps, int Drafted, int Accepted, double QueueMs, double ServerTtftMs);

    private sealed record Result(int Clients, int Rows, Config Config, double Seconds, IReadOnlyList<Sample> Samples, long EngineSteps, long DraftingSteps,
                                 int Gamma, IReadOnlyList<Reference> References, double[] EngineItl, string LoadAverage)
    {
        public IEnumerable<Sample> Good => Samples.Where(s => s.Error is null);
        public int Errors => Samples.Count(s => s.Error is not null);
        public int Tokens => Good.Sum(s => s.CompletionTokens);
        public double TokensPerSecond => Tokens / Seconds;
        public int Mismatches => Good.Count(s => s.Text != References[s.Prompt].Text);
        public double[] Ttft => Good.Select(s => Ms(s.Chunks[0].At - s.Sent)).Order().ToArray();
        public double[] ServerTtft => Good.Select(s => s.ServerTtftMs).Order().ToArray();
        public double[] Queue => Good.Select(s => s.QueueMs).Order().ToArray();
        public double[] Itl => Good.Where(s => s.Text == References[s.Prompt].Text).SelectMany(s => InterTokenMs(s, References[s.Prompt])).Order().ToArray();
        public double[] ChunkGaps => Good.SelectMany(s => s.Chunks.Zip(s.Chunks.Skip(1), (a, b) => Ms(b.At - a.At))).Order().ToArray();
        public long Steps => Good.Sum(s => (long)s.Steps);
        /// <summary>Accepted drafts per row-step (every decode step of every request, drafting or not).</summary>
        public double AcceptedPerStep => (double)Good.Sum(s => (long)s.Accepted) / Math.Max(Steps, 1);
        public double TokensPerStep => (double)Tokens / Math.Max(Steps, 1);
        /// <summary>Accepted drafts per drafting row-step (α): what a step buys when it drafts.</summary>
        public double AcceptedPerDraftingStep => Gamma == 0 ? 0 : Good.Sum(s => (double)s.Accepted) / Math.Max(Good.Sum(s => (double)s.Drafted) / Gamma, 1);
        /// <summary>Row-steps that drafted.</summary>
        public double DraftingRowSteps => Gamma == 0 ? 0 : Good.Sum(s => (double)s.Drafted) / Gamma / Math.Max(Steps, 1);
    }

    public static int Run(string[] args)
    {
        Options? o;
        try { o = Options.Parse(args); }
        catch (Exception e) when (e is ArgumentException or FormatException) { Console.Error.WriteLine(e.Message); o = null; }
        if (o is null) { Console.WriteLine(Usage); return 2; }
        return RunAsync(o).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(Options o)
    {
        torch.set_num_threads(1);
        string root = StrategyBenchmark.RepoRoot();
        string date = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        string outPath = o.Out ?? Path.Combine(root, "benchmarks", "results", $"serve-load-{date}");
        string targetDir = Path.Combine(root, "models", "english", "target"), draftDir = Path.Combine(root, "models", "english", "draft");
        // The dtype `pardec serve` picks by default (the shipped models are small enough that f32 wins on a CPU).
        var targetDType = AutoDType.For(targetDir, CPU);
        var draftDType = AutoDType.For(draftDir, CPU);
        using var target = PretrainedModel.Load(targetDir, CPU, targetDType, requireTokenizer: true);
        using var draft = PretrainedModel.Load(draftDir, CPU, draftDType);
        target.Model.eval();
        draft.Model.eval();
        var tokenizer = target.Tokenizer!;
        var models = new ModelSet().Add("target", target.Model).Add("draft", draft.Model);
        int context = target.Config.MaxPositionEmbeddings;

        var prompts = File.ReadLines(Path.Combine(root, "models", "eval", "prompts.english.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!).ToArray();
        string loadAtStart = Load();
        Console.WriteLine($"serve-load: {prompts.Length} held-out prompts, max_tokens {o.MaxTokens}, greedy, clients {string.Join('/', o.Concurrency)}, " +
                          $"rows {(o.Batch is { } b ? b.ToString(CultureInfo.InvariantCulture) : "= clients")}, {AutoDType.Name(targetDType)}, 1 torch thread, load {loadAtStart}");
        Console.WriteLine($"CPU: {Machine.Cpu}");

        // Solo greedy decodes: the reference every served reply must equal, and each token's end in the text.
        var references = new Reference[prompts.Length];
        using (var solo = Strategy("Greedy").Create(models, null, context))
        {
            var decoder = new TextDecoder(solo, tokenizer);
            for (int i = 0; i < prompts.Length; i++)
            {
                var ids = tokenizer.Encode(prompts[i], addBos: true);
                if (ids.Length + o.MaxTokens > context)
                    throw new InvalidOperationException($"Prompt {i} has {ids.Length} tokens: {o.MaxTokens} more do not fit the {context}-token context.");
                var result = decoder.Generate(prompts[i], new GenerationOptions { MaxNewTokens = o.MaxTokens });
                var detok = tokenizer.CreateStreamingDetokenizer();
                var text = new StringBuilder();
                var offsets = new int[result.Tokens.Count];
                for (int t = 0; t < offsets.Length; t++) { text.Append(detok.Push(result.Tokens[t])); offsets[t] = text.Length; }
                text.Append(detok.Flush());
                if (offsets.Length > 0) offsets[^1] = text.Length;
                references[i] = new Reference(prompts[i], ids.Length, result.Tokens, text.ToString(), offsets);
            }
        }
        Console.WriteLine($"solo references: prompts of {references.Min(r => r.PromptTokens)}–{references.Max(r => r.PromptTokens)} tokens, " +
                          $"replies of {references.Min(r => r.Tokens.Count)}–{references.Max(r => r.Tokens.Count)} tokens");

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) })
        {
            Timeout = TimeSpan.FromMinutes(5),
        };
        using var engineLatencies = new EngineLatencies();
        var total = Stopwatch.StartNew();

        // Tiered JIT: the host loops run unoptimised for their first thousands of calls; one throwaway server takes them.
        await using (var warm = await Serve(models, target.Model, tokenizer, targetDir, rows: 4, maxQueue: 64))
            foreach (var config in Configs)
                await Drive(http, warm.Url, config.Name, clients: 4, perClient: 3, references, o.MaxTokens);
        Console.WriteLine($"warmed up in {total.Elapsed.TotalSeconds:F0} s");

        var results = new List<Result>();
        foreach (int clients in o.Concurrency)
        {
            int rows = o.Batch ?? clients;
            int perClient = Math.Max(o.PerClient, (o.Requests + clients - 1) / clients);
            await using var server = await Serve(models, target.Model, tokenizer, targetDir, rows, maxQueue: Math.Max(64, clients));
            foreach (var config in Configs)
            {
                var engine = (ContinuousBatchEngine)server.Registry.Find(config.Name).Engine;
                // A warm-up round at this load: the engine's buffers, and auto's step-time estimates for this many rows.
                await Drive(http, server.Url, config.Name, clients, perClient: 1, references, o.MaxTokens);
                long steps = engine.Steps, drafting = engine.DraftingSteps;
                string load = Load();
                engineLatencies.Start(config.Name);
                var (seconds, samples) = await Drive(http, server.Url, config.Name, clients, perClient, references, o.MaxTokens);
                var engineItl = engineLatencies.Stop();
                var plan = Plan(config.Strategy);
                int gamma = plan.FindParam("gamma") is null ? 0 : (int)new ParamValues(plan)["gamma"];
                var r = new Result(clients, rows, config, seconds, samples, engine.Steps - steps, engine.DraftingSteps - drafting, gamma, references, engineItl, load);
                results.Add(r);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{clients,3} clients {config.Name,-12} {r.TokensPerSecond,7:F0} tok/s  TTFT p50 {P(r.Ttft, 50),7:F1} p99 {P(r.Ttft, 99),7:F1} ms  " +
                    $"ITL p50 {P(r.Itl, 50),6:F2} p99 {P(r.Itl, 99),6:F2} ms (engine {P(r.EngineItl, 50),6:F2} / {P(r.EngineItl, 99),6:F2})  accepted/step {r.AcceptedPerStep:F2}  drafting steps {r.DraftingSteps}/{r.EngineSteps}  " +
                    $"{r.Samples.Count} requests, {r.Errors} errors, {r.Mismatches} differ from solo  ({seconds:F1} s, load {load})"));
            }
        }
        string loadAtEnd = Load();
        Console.WriteLine($"done in {total.Elapsed.TotalMinutes:F1} min, load {loadAtEnd}");
        Write(outPath, o, results, references, targetDType, draftDType, loadAtStart, loadAtEnd, total.Elapsed);
        return results.Any(r => r.Errors > 0 || r.Mismatches > 0) ? 1 : 0;
    }

    private static GeneratedStrategy Strategy(string name) => GeneratedStrategies.All.Single(s => s.Name == name);

    private static DecodePlan Plan(string name) => PdecCompiler.Compile(Strategy(name).Plan, name + ".pdec").Plans[0];

    /// <summary>A running server on a free loopback port with the three deployments, each with <paramref name="rows"/> rows.</summary>
    private sealed class Server(WebApplication app, string url) : IAsyncDisposable
    {
        public string Url { get; } = url;
        public DeploymentRegistry Registry => app.Services.GetRequiredService<DeploymentRegistry>();

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private static async Task<Server> Serve(ModelSet models, ICausalLM target, TextTokenizer tokenizer, string targetDir, int rows, int maxQueue)
    {
        var specs = Configs.Select(c => new DeploymentSpec(c.Name, Plan(c.Strategy), models, target, tokenizer,
                                                           maxLength => Strategy(c.Strategy).Create(models, null, maxLength), targetDir)).ToList();
        var options = new ServerOptions
        {
            Deployments = Configs.ToDictionary(c => c.Name, c => new DeploymentOptions { Concurrency = rows, MaxQueue = maxQueue, Speculation = c.Speculation }),
            DrainTimeout = TimeSpan.FromSeconds(5),
        };
        var app = PardecServer.Build(specs, options, configure: builder =>
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.SetMinimumLevel(LogLevel.Warning); // a line per request would cost the 2 cores more than the server does
        });
        await app.StartAsync();
        var server = new Server(app, app.Urls.First());
        foreach (var d in server.Registry.All)
            if (d.WhyNotBatched is { } why) throw new InvalidOperationException($"{d.Name} is not continuously batched: {why}");
        return server;
    }

    /// <summary>Closed loop: <paramref name="clients"/> clients each send <paramref name="perClient"/> streaming requests
    /// back to back, taking the held-out prompts in turn. Returns the wall time from the first request to the last reply.</summary>
    private static async Task<(double Seconds, IReadOnlyList<Sample> Samples)> Drive(HttpClient http, string url, string model, int clients, int perClient,
                                                                                    IReadOnlyList<Reference> references, int maxTokens)
    {
        var samples = new ConcurrentBag<Sample>();
        int next = -1;
        long start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            for (int k = 0; k < perClient; k++)
            {
                int prompt = Interlocked.Increment(ref next) % references.Count;
                samples.Add(await Stream(http, url, model, prompt, references[prompt].Prompt, maxTokens));
            }
        })));
        return (Stopwatch.GetElapsedTime(start).TotalSeconds, samples.ToArray());
    }

    private static async Task<Sample> Stream(HttpClient http, string url, string model, int promptIndex, string prompt, int maxTokens)
    {
        string body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model"] = model, ["prompt"] = prompt, ["max_tokens"] = maxTokens, ["temperature"] = 0, ["stream"] = true,
            ["stream_options"] = new Dictionary<string, object> { ["include_usage"] = true },
        });
        var chunks = new List<(long At, int Length)>(maxTokens + 2);
        var text = new StringBuilder();
        string? error = null;
        int completion = 0, steps = 0, drafted = 0, accepted = 0;
        double queueMs = double.NaN, serverTtft = double.NaN;
        bool done = false, usage = false;
        long sent = Stopwatch.GetTimestamp();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url + "/v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (!response.IsSuccessStatusCode)
                error = $"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}";
            else
            {
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                while (await reader.ReadLineAsync() is { } line)
                {
                    if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                    long at = Stopwatch.GetTimestamp();
                    if (line == "data: [DONE]") { done = true; break; }
                    using var json = JsonDocument.Parse(line.AsMemory(6));
                    var e = json.RootElement;
                    if (e.TryGetProperty("error", out var err)) { error = err.GetProperty("message").GetString(); continue; }
                    if (e.GetProperty("choices") is { ValueKind: JsonValueKind.Array } choices && choices.GetArrayLength() > 0
                        && choices[0].GetProperty("text").GetString() is { Length: > 0 } piece)
                    {
                        text.Append(piece);
                        chunks.Add((at, text.Length));
                    }
                    if (e.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object)
                    {
                        usage = true;
                        completion = u.GetProperty("completion_tokens").GetInt32();
                        var p = u.GetProperty("pardec");
                        steps = p.GetProperty("steps").GetInt32();
                        drafted = p.GetProperty("drafted_tokens").GetInt32();
                        accepted = p.GetProperty("accepted_tokens").GetInt32();
                        queueMs = p.GetProperty("queue_ms").GetDouble();
                        if (p.TryGetProperty("time_to_first_token_ms", out var t)) serverTtft = t.GetDouble();
                    }
                }
                if (error is null && !done) error = "the stream ended without [DONE]";
                else if (error is null && !usage) error = "no usage chunk";
                else if (error is null && chunks.Count == 0) error = "no text";
            }
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            error = e.GetType().Name + ": " + e.Message;
        }
        return new Sample(promptIndex, sent, Stopwatch.GetTimestamp(), chunks, text.ToString(), error, completion, steps, drafted, accepted, queueMs, serverTtft);
    }

    /// <summary>
    /// Per-token gaps after the first chunk: a chunk that carried k tokens (one step's commit; counted from where the
    /// solo decode's tokens end in the text) arrived g after the previous chunk, so each of its tokens waited g / k.
    /// The first chunk's tokens are the time to first token's.
    /// </summary>
    private static IEnumerable<double> InterTokenMs(Sample s, Reference reference)
    {
        int before = Covered(reference.Offsets, s.Chunks[0].Length);
        for (int j = 1; j < s.Chunks.Count; j++)
        {
            int covered = Covered(reference.Offsets, s.Chunks[j].Length);
            int k = covered - before;
            double gap = Ms(s.Chunks[j].At - s.Chunks[j - 1].At);
            for (int t = 0; t < k; t++) yield return gap / k;
            before = covered;
        }
    }

    // Tokens whose text ends within the first `length` characters.
    private static int Covered(int[] offsets, int length)
    {
        int n = 0;
        while (n < offsets.Length && offsets[n] <= length) n++;
        return n;
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    /// <summary>Percentile with linear interpolation between order statistics (numpy's default); NaN when empty.</summary>
    private static double P(double[] sorted, double percentile)
    {
        if (sorted.Length == 0) return double.NaN;
        double rank = percentile / 100 * (sorted.Length - 1);
        int lo = (int)Math.Floor(rank), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (rank - lo) * (sorted[hi] - sorted[lo]);
    }

    private static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

    private static (string Commit, string[] Dirty) Git(string root)
    {
        static string Run(string root, string args)
        {
            try
            {
                using var p = Process.Start(new ProcessStartInfo("git", args) { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true })!;
                string output = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                return p.ExitCode == 0 ? output.Trim() : "";
            }
            catch (System.ComponentModel.Win32Exception) { return ""; }
        }
        string commit = Run(root, "rev-parse --short=12 HEAD");
        // Uncommitted changes in what the benchmark builds from (shared working tree: other sessions' work in progress).
        string[] dirty = Run(root, "status --porcelain --untracked-files=no -- src benchmarks/Pardec.Benchmarks strategies")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Length > 3 ? l[3..] : l).ToArray();
        return (commit.Length > 0 ? commit : "unknown", dirty);
    }

    private static string F(double value, string format) =>
        double.IsNaN(value) ? "–" : value.ToString(format, CultureInfo.InvariantCulture);

    private static void Write(string outPath, Options o, List<Result> results, Reference[] references, ScalarType targetDType, ScalarType draftDType,
                              string loadAtStart, string loadAtEnd, TimeSpan elapsed)
    {
        string root = StrategyBenchmark.RepoRoot();
        var (commit, dirty) = Git(root);
        string command = o.CommandLine();
        string when = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + "Z";
        double Ratio(Result r) => r.TokensPerSecond / results.Single(x => x.Clients == r.Clients && x.Config.Name == "greedy").TokensPerSecond;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);

        var json = new
        {
            command, date = when, cpu = Machine.Cpu, commit, uncommittedChanges = dirty, torchThreads = 1,
            dtype = new { target = AutoDType.Name(targetDType), draft = AutoDType.Name(draftDType) },
            models = new { target = "models/english/target", draft = "models/english/draft" },
            prompts = "models/eval/prompts.english.jsonl", maxTokens = o.MaxTokens, temperature = 0, endpoint = "/v1/completions (stream, include_usage)",
            rows = o.Batch is { } b ? b.ToString(CultureInfo.InvariantCulture) : "= clients", prefillChunk = new DeploymentOptions().PrefillChunk,
            loadAverage = new { start = loadAtStart, end = loadAtEnd }, wallSeconds = elapsed.TotalSeconds,
            results = results.Select(r => new
            {
                clients = r.Clients, rows = r.Rows, deployment = r.Config.Name, strategy = r.Config.Strategy, speculation = r.Config.Speculation.ToString().ToLowerInvariant(),
                draftLength = r.Gamma, loadAverage = r.LoadAverage, seconds = r.Seconds, requests = r.Samples.Count, errors = r.Errors, differFromSolo = r.Mismatches,
                generatedTokens = r.Tokens, tokensPerSecond = r.TokensPerSecond, vsGreedy = Ratio(r),
                ttftMs = Summary(r.Ttft), serverTtftMs = Summary(r.ServerTtft), queueMs = Summary(r.Queue),
                interTokenMs = Summary(r.Itl), engineInterTokenMs = Summary(r.EngineItl), chunkGapMs = Summary(r.ChunkGaps),
                rowSteps = r.Steps, acceptedPerStep = r.AcceptedPerStep, tokensPerStep = r.TokensPerStep,
                acceptedPerDraftingStep = r.AcceptedPerDraftingStep, draftingRowSteps = r.DraftingRowSteps,
                engineSteps = r.EngineSteps, engineDraftingSteps = r.DraftingSteps,
                errorMessages = r.Samples.Where(s => s.Error is not null).Select(s => s.Error).Distinct().Take(5),
                requestsDetail = r.Samples.OrderBy(s => s.Sent).Select(s => new
                {
                    prompt = s.Prompt, error = s.Error, completionTokens = s.CompletionTokens, steps = s.Steps, drafted = s.Drafted, accepted = s.Accepted,
                    ttftMs = s.Chunks.Count > 0 ? Math.Round(Ms(s.Chunks[0].At - s.Sent), 3) : (double?)null,
                    serverTtftMs = double.IsNaN(s.ServerTtftMs) ? (double?)null : s.ServerTtftMs, queueMs = double.IsNaN(s.QueueMs) ? (double?)null : s.QueueMs,
                    durationMs = Math.Round(Ms(s.Ended - s.Sent), 3), chunks = s.Chunks.Count, sameAsSolo = s.Text == references[s.Prompt].Text,
                }),
            }),
        };
        File.WriteAllText(outPath + ".json", JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }) + "\n");

        var md = new StringBuilder();
        md.AppendLine("# `pardec serve` under load: where speculation stops paying").AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"`{command}`").AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"{when}, commit `{commit}`{(dirty.Length > 0 ? $" (the shared working tree also had uncommitted changes by other sessions in {string.Join(", ", dirty.Select(d => $"`{d}`"))})" : "")}; " +
            $"CPU: {Machine.Cpu}; one torch thread (the deployments' engine threads; one deployment busy at a time); load average {loadAtStart} at the start, {loadAtEnd} at the end; " +
            $"{elapsed.TotalMinutes:F1} minutes in all.").AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"The server runs in-process on loopback (Kestrel, `PardecServer.Build` as `pardec serve` does) with the shipped English target and draft ({AutoDType.Name(targetDType)}, " +
            $"what `pardec serve` picks here); {(o.Batch is { } rows ? $"every deployment has {rows} rows (more clients queue for a row)" : "at each concurrency the deployments have one row per client (`--batch` = clients), so no request queues for a row")}, " +
            $"prefill chunk {new DeploymentOptions().PrefillChunk}, draft length {results.Max(r => r.Gamma)}. Each client streams `/v1/completions` requests back to back (the next when the last ends) " +
            $"with the {references.Length} held-out prompts of `models/eval/prompts.english.jsonl` in turn ({references.Min(r => r.PromptTokens)}–{references.Max(r => r.PromptTokens)} tokens), " +
            $"greedy (`temperature: 0`), `max_tokens: {o.MaxTokens}` (EOS ends a reply early). At each concurrency the three deployments run one after the other " +
            $"(a warm-up round of one request per client, then the measured requests), so their ratios come from the same minute of a shared machine.").AppendLine();
        md.AppendLine("| clients | deployment | tok/s | vs Greedy | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 | engine ITL p50 / p99 | accepted / step | drafting row-steps | requests | errors | = solo |");
        md.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Clients} | {r.Config.Label} | {r.TokensPerSecond:F0} | {Ratio(r):F2}x | {F(P(r.Ttft, 50), "F1")} ms | {F(P(r.Ttft, 99), "F1")} ms | " +
                $"{F(P(r.Itl, 50), "F2")} ms | {F(P(r.Itl, 99), "F2")} ms | {F(P(r.EngineItl, 50), "F2")} / {F(P(r.EngineItl, 99), "F2")} ms | {r.AcceptedPerStep:F2} | {(r.Gamma == 0 ? "–" : r.DraftingRowSteps.ToString("P0", CultureInfo.InvariantCulture))} | " +
                $"{r.Samples.Count} | {r.Errors} | {r.Samples.Count - r.Errors - r.Mismatches}/{r.Samples.Count} |");
        md.AppendLine();
        md.AppendLine("## Where speculation stops paying").AppendLine();
        foreach (var mode in Configs.Where(c => c.Speculation != SpeculationMode.Off))
            md.AppendLine(Crossover(results.Where(r => r.Config.Name == mode.Name).ToList(), Ratio, mode.Label)).AppendLine();
        md.AppendLine("## Definitions").AppendLine();
        md.AppendLine("- **tok/s**: completion tokens of the measured requests ÷ the wall time from the first request sent to the last reply read (all clients).");
        md.AppendLine("- **TTFT**: from sending the request to the first streamed chunk with text, as the client reads it (queueing, the chunked prefill, the first step and HTTP on loopback). The server's own figure (`usage.pardec.time_to_first_token_ms`, arrival to first token) is in the JSON as `serverTtftMs`.");
        md.AppendLine("- **ITL**: per token after the first chunk, as the client sees it: a chunk that carried k tokens (one engine step's commit; k counted from where the solo greedy decode's tokens end in the text) arrived g after the previous chunk, so each of its tokens counts g / k — the server's `pardec_inter_token_latency_seconds` definition, measured at the client. Gaps between chunks themselves (one per step) are in the JSON as `chunkGapMs`. **engine ITL**: the same per-token gaps as the engine thread records them for `/metrics` (step end to step end, read unbucketed from the `Pardec.Server` meter with a `MeterListener`): what the decode costs without the HTTP and scheduling jitter a client on two shared cores adds.");
        md.AppendLine("- **accepted / step**: accepted drafted tokens ÷ decode steps over all requests (from each reply's `usage.pardec`); each step also commits the target's own token, so tokens per step = 1 + this. **drafting row-steps**: the share of those steps in which the row drafted (always: 100%; auto: what the policy chose). The engine's own step counts are in the JSON.");
        md.AppendLine("- **= solo**: replies whose text equals the prompt's solo greedy decode (a plain `Greedy` decoder in the same process); **errors**: HTTP errors, error events, streams without `[DONE]`.");
        md.AppendLine().AppendLine("Raw numbers, per request: the .json beside this file.");
        File.WriteAllText(outPath + ".md", md.ToString());
        Console.WriteLine($"wrote {outPath}.md and .json");
    }

    /// <summary>The engine's own inter-token gaps (<c>pardec.inter_token_latency</c>, one measurement per token) of one
    /// deployment while it is measured, unbucketed.</summary>
    private sealed class EngineLatencies : IDisposable
    {
        private readonly MeterListener _listener = new();
        private ConcurrentQueue<double>? _values;
        private string? _deployment;

        public EngineLatencies()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == ServerMetrics.MeterName && instrument.Name == "pardec.inter_token_latency") listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
            {
                var values = Volatile.Read(ref _values);
                if (values is null) return;
                foreach (var tag in tags)
                    if (tag.Key == "deployment" && tag.Value as string == _deployment) { values.Enqueue(value * 1000); return; }
            });
            _listener.Start();
        }

        public void Start(string deployment)
        {
            _deployment = deployment;
            Volatile.Write(ref _values, new ConcurrentQueue<double>());
        }

        public double[] Stop() => Interlocked.Exchange(ref _values, null)!.Order().ToArray();

        public void Dispose() => _listener.Dispose();
    }

    private static object Summary(double[] sorted) => new
    {
        count = sorted.Length, mean = sorted.Length == 0 ? double.NaN : sorted.Average(), p50 = P(sorted, 50), p90 = P(sorted, 90), p99 = P(sorted, 99),
        max = sorted.Length == 0 ? double.NaN : sorted[^1],
    };

    /// <summary>One sentence per speculating deployment: the concurrencies where it beat Greedy's throughput, and where it stopped.</summary>
    private static string Crossover(List<Result> rows, Func<Result, double> ratio, string label)
    {
        string Levels(IEnumerable<Result> rs) => string.Join(", ", rs.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Clients} ({ratio(r):F2}x)")));
        var pays = rows.Where(r => ratio(r) >= 1).ToList();
        var loses = rows.Where(r => ratio(r) < 1).ToList();
        if (loses.Count == 0) return $"**{label}** beat Greedy's throughput at every concurrency measured: {Levels(rows)} clients.";
        if (pays.Count == 0) return $"**{label}** did not beat Greedy's throughput at any concurrency measured: {Levels(rows)} clients.";
        var firstLoss = loses.First();
        var lastPay = pays.Where(r => r.Clients < firstLoss.Clients).LastOrDefault();
        string where = lastPay is null ? $"below {firstLoss.Clients} clients" : $"between {lastPay.Clients} and {firstLoss.Clients} clients";
        string after = rows.Where(r => r.Clients > firstLoss.Clients).Any(r => ratio(r) >= 1) ? " (and not monotonically: see the table)" : "";
        return $"**{label}** out-produced Greedy at {Levels(pays)} clients and fell behind at {Levels(loses)}: it stops paying {where}{after}.";
    }
}
