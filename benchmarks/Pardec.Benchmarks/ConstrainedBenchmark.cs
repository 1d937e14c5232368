using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Pardec.Dsl;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Tokenization;
using Pardec.Strategies;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

/// <summary>
/// Constrained decoding, measured (issue 18): (1) the token mask's cost against vocabulary size — the shipped 4k
/// SentencePiece vocabulary and the real Llama 3 (128k) and Qwen3 (151k) byte-level ones — cold (a state's first mask,
/// built by walking the token trie with the DFA) and cached (masking a logits row from the kept mask), along a JSON
/// document's token path; (2) on the shipped models, a JSON-schema task decoded by constrained greedy, by a draft model
/// drafting unconstrained and masked only at verification, by grammar-aware drafting, and by jump-forward (alone and
/// beside the draft): tokens per step, tok/s, and the constraint's host overhead per step (host time per step minus the
/// same strategy's unconstrained host time per step, over the constrained step's time); (3) the same overhead for DINGO
/// on the shipped diffusion LM. Everything runs in one process on one torch thread, so ratios come from one run.
/// </summary>
public static class ConstrainedBenchmark
{
    private const string Usage = """
        dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- constrained [options]
          --tokenizers DIR     real tokenizer.json directories (llama3_1, qwen3); default <repo>/artifacts/reference/tokenizers
                               (tools/fetch-tokenizers.sh fetches them)
          --prompts K          prompts from models/eval/prompts.english.jsonl for the decode part (default 3)
          --max-tokens N       tokens per decode (default 96)
          --repeats R          cached-mask passes over each token path (default 50)
          --out DIR            results folder (default benchmarks/results)
        """;

    /// <summary>The decode task's schema (the one the constrained-decoding tests use).</summary>
    public const string Schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":16},"age":{"type":"integer"},"good":{"type":"boolean"}},"required":["name","age","good"]}
        """;

    /// <summary>A larger schema for the mask part: nested object, array, enum, numbers.</summary>
    public const string OrderSchema = """
        {"type":"object","properties":{"id":{"type":"integer"},"customer":{"type":"object","properties":{"name":{"type":"string"},"email":{"type":"string"}},"required":["name","email"]},
         "items":{"type":"array","items":{"type":"object","properties":{"sku":{"type":"string"},"qty":{"type":"integer"},"price":{"type":"number"}},"required":["sku","qty","price"]},"maxItems":4},
         "status":{"enum":["new","paid","shipped"]},"note":{"type":"string"}},"required":["id","customer","items","status","note"]}
        """;

    private static readonly (string Name, string Schema, string Document)[] MaskTasks =
    [
        ("person schema", Schema, """{"name": "Ada Lovelace", "age": 36, "good": true}"""),
        ("order schema", OrderSchema, """{"id": 1042, "customer": {"name": "Grace Hopper", "email": "grace@navy.mil"}, "items": [{"sku": "COBOL-1", "qty": 2, "price": 19.5}, {"sku": "A-0", "qty": 1, "price": 7}], "status": "paid", "note": "Leave it with the compiler team, second floor, near the vending machine that only takes exact change."}"""),
    ];

    public static int Run(string[] args)
    {
        string root = StrategyBenchmark.RepoRoot();
        string tokenizers = Path.Combine(root, "artifacts", "reference", "tokenizers"), outDir = Path.Combine(root, "benchmarks", "results");
        int prompts = 3, maxTokens = 96, repeats = 50;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--tokenizers": tokenizers = Next(); break;
                case "--prompts": prompts = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--max-tokens": maxTokens = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--repeats": repeats = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--out": outDir = Next(); break;
                default: Console.WriteLine(Usage); return 2;
            }
        }
        torch.set_num_threads(1);
        string loadAtStart = File.ReadAllText("/proc/loadavg").Trim();
        Console.WriteLine($"CPU: {Machine.Cpu}; load {loadAtStart}");

        var masks = MaskCosts(root, tokenizers, repeats);
        var decodes = Decodes(root, prompts, maxTokens);
        var dingo = Dingo(root, prompts, 48);
        Write(outDir, args, loadAtStart, masks, decodes, dingo, prompts, maxTokens, repeats);
        return 0;
    }

    // ------------------------------------------------------------------ (1) masks against vocabulary size

    public sealed record MaskRow(string Vocabulary, int VocabSize, string Constraint, int DfaStates, int PathTokens, int PathStates,
                                 double ColdMeanUs, double ColdMaxUs, double CachedMaskUs, double CachedNextUs, double FirstPassPerTokenUs,
                                 int ReachableStates, double PrecomputeMs, double TrieBuildMs);

    private static List<MaskRow> MaskCosts(string root, string tokenizerDir, int repeats)
    {
        var vocabularies = new List<(string Name, Func<TextTokenizer> Load)>
        {
            ("english (shipped, SentencePiece)", () => TextTokenizer.FromDirectory(Path.Combine(root, "models", "english", "target"))!),
        };
        foreach (var (dir, name) in new[] { ("llama3_1", "Llama 3.1 (byte-level BPE)"), ("qwen3", "Qwen3 (byte-level BPE)") })
        {
            string path = Path.Combine(tokenizerDir, dir, "tokenizer.json");
            if (File.Exists(path)) vocabularies.Add((name, () => TextTokenizer.FromTokenizerJson(path)));
            else Console.WriteLine($"  {name}: {path} not found (run tools/fetch-tokenizers.sh); skipped");
        }
        var rows = new List<MaskRow>();
        foreach (var (name, load) in vocabularies)
        {
            var tokenizer = load();
            long t0 = Stopwatch.GetTimestamp();
            var vocabulary = TokenVocabulary.From(tokenizer);
            double trieMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            foreach (var (task, schema, document) in MaskTasks)
            {
                var constraint = TokenConstraint.FromJsonSchema(schema);
                if (!constraint.Dfa.Matches(document)) throw new InvalidOperationException($"{task}: the document does not match its schema's regex");
                rows.Add(MaskCost(name, vocabulary, task, constraint, document, repeats, trieMs));
                var r = rows[^1];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {name,-34} {r.VocabSize,7} {task,-14} cold {r.ColdMeanUs,9:F1} µs (max {r.ColdMaxUs:F0})  cached mask {r.CachedMaskUs,6:F2} µs + next {r.CachedNextUs:F2} µs  first pass {r.FirstPassPerTokenUs,8:F1} µs/token  ({r.PathTokens} tokens, {r.PathStates} states; all {r.ReachableStates} reachable in {r.PrecomputeMs:F0} ms)"));
            }
        }
        return rows;
    }

    private static MaskRow MaskCost(string name, TokenVocabulary vocabulary, string task, TokenConstraint constraint, string document,
                                    int repeats, double trieMs)
    {
        // The document's token path under the constraint (the greedy tokenisation of its bytes through allowed tokens).
        var probe = new TokenMatcher(constraint.Dfa, vocabulary);
        var bytes = Encoding.UTF8.GetBytes(document);
        var path = new List<int>();
        int state = probe.Start, at = 0;
        while (at < bytes.Length)
        {
            int token = probe.LongestTokenPrefix(state, bytes.AsSpan(at), out int length);
            if (token < 0) throw new InvalidOperationException($"{task}: no allowed token spells the document at byte {at}");
            path.Add(token);
            state = probe.Next(state, token);
            at += length;
        }

        // Cold: a fresh matcher, every mask built the first time its state is reached.
        var cold = new TokenMatcher(constraint.Dfa, vocabulary);
        var row = new float[vocabulary.Count];
        var random = new Random(1);
        for (int i = 0; i < row.Length; i++) row[i] = (float)random.NextDouble();
        var built = new HashSet<int>();
        var coldTimes = new List<double>();
        long firstPass = 0;
        state = cold.Start;
        foreach (int token in path)
        {
            long s = Stopwatch.GetTimestamp();
            cold.AllowedBits(state);
            long e = Stopwatch.GetTimestamp();
            var work = row.AsSpan();
            cold.MaskLogits(state, work);
            int next = cold.Next(state, token);
            long f = Stopwatch.GetTimestamp();
            firstPass += f - s;
            if (built.Add(state)) coldTimes.Add((e - s) * 1e6 / Stopwatch.Frequency);
            state = next;
            for (int i = 0; i < 64 && i < row.Length; i++) row[i] = (float)random.NextDouble(); // keep the row finite where the mask wrote
        }

        // Cached: the same path again, many times: mask a fresh copy of a logits row, then advance.
        var logits = new float[vocabulary.Count];
        var scratch = new float[vocabulary.Count];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)random.NextDouble();
        long maskTicks = 0, nextTicks = 0;
        for (int r = 0; r < repeats; r++)
        {
            state = cold.Start;
            foreach (int token in path)
            {
                logits.CopyTo(scratch, 0); // the decoder's row is fresh each step; the copy is not timed
                long s = Stopwatch.GetTimestamp();
                cold.MaskLogits(state, scratch);
                long e = Stopwatch.GetTimestamp();
                state = cold.Next(state, token);
                nextTicks += Stopwatch.GetTimestamp() - e;
                maskTicks += e - s;
            }
        }
        double perToken = 1e6 / Stopwatch.Frequency / (repeats * (double)path.Count);

        var all = new TokenMatcher(constraint.Dfa, vocabulary);
        long p0 = Stopwatch.GetTimestamp();
        int reachable = all.Precompute();
        double precomputeMs = Stopwatch.GetElapsedTime(p0).TotalMilliseconds;
        return new MaskRow(name, vocabulary.Count, task, constraint.Dfa.StateCount, path.Count, built.Count,
                           coldTimes.Average(), coldTimes.Max(), maskTicks * perToken, nextTicks * perToken,
                           firstPass * 1e6 / Stopwatch.Frequency / path.Count, reachable, precomputeMs, trieMs);
    }

    // ------------------------------------------------------------------ (2) decodes on the shipped models

    public sealed class DecodeRow
    {
        public string Config { get; init; } = "";
        public string Strategy { get; init; } = "";
        public bool Constrained { get; init; }
        public bool DraftsMasked { get; init; }
        public int Tokens { get; set; }
        public int Steps { get; set; }
        public double DecodeSeconds { get; set; }
        public double ModelSeconds { get; set; }
        public int Valid { get; set; }
        public int Outputs { get; set; }
        public bool EqualsConstrainedGreedy { get; set; } = true;
        public double TokensPerStep => Steps == 0 ? 0 : (double)Tokens / Steps;
        public double TokensPerSecond => DecodeSeconds == 0 ? 0 : Tokens / DecodeSeconds;
        public double HostMsPerStep => Steps == 0 ? 0 : (DecodeSeconds - ModelSeconds) * 1e3 / Steps;
        public double StepMs => Steps == 0 ? 0 : DecodeSeconds * 1e3 / Steps;
        /// <summary>Everything but the forwards (constraint work included), as a fraction of the step: an upper bound on
        /// the constraint's own share.</summary>
        public double HostShare => StepMs == 0 ? 0 : HostMsPerStep / StepMs;
        /// <summary>Host time per step above the same strategy's unconstrained run, over this step's time.</summary>
        public double? ConstraintOverhead { get; set; }
        public string Sample { get; set; } = "";
    }

    private static List<DecodeRow> Decodes(string root, int promptCount, int maxTokens)
    {
        using var target = PretrainedModel.Load(Path.Combine(root, "models", "english", "target"), CPU, ScalarType.Float32, requireTokenizer: true);
        using var draft = PretrainedModel.Load(Path.Combine(root, "models", "english", "draft"), CPU, ScalarType.Float32);
        var timedTarget = new TimedModel(target.Model);
        var timedDraft = new TimedModel(draft.Model);
        var models = new ModelSet().Add("target", timedTarget).Add("draft", timedDraft);
        var tokenizer = target.Tokenizer!;
        var vocabulary = TokenVocabulary.From(tokenizer);
        var constraint = TokenConstraint.FromJsonSchema(Schema);
        var matcher = constraint.For(vocabulary);
        var schema = Json.Schema.JsonSchema.FromText(Schema);
        var prompts = File.ReadLines(Path.Combine(root, "models", "eval", "prompts.english.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!)
            .Take(promptCount).Select(p => tokenizer.Encode(p + "\nAnswer in JSON:", addBos: true)).Select(p => p.Length > 64 ? p[^64..] : p).ToArray();
        string composed = File.ReadAllText(Path.Combine(root, "tests", "Pardec.Constraints.Tests", "Composed", "constrained.pdec"));
        var forcedPlans = PdecCompiler.Compile(composed, "constrained.pdec").Plans;

        IDecoder Create(string strategy) =>
            forcedPlans.FirstOrDefault(p => p.Name == strategy) is { } plan
                ? PlanInterpreter.Create(plan, models, null, 256)
                : GeneratedStrategies.All.Single(s => s.Name == strategy).Create(models, null, 256);

        var configs = new (string Name, string Strategy, bool Constrained, bool MaskDrafts)[]
        {
            ("greedy, unconstrained", "Greedy", false, false),
            ("constrained greedy", "Greedy", true, false),
            ("draft, unconstrained", "SpeculativeGreedy", false, false),
            ("draft unconstrained, mask at verification", "SpeculativeGreedy", true, false),
            ("grammar-aware drafting", "SpeculativeGreedy", true, true),
            ("draft tree, unconstrained", "DraftTree", false, false),
            ("draft tree, mask at verification", "DraftTree", true, false),
            ("draft tree, grammar-aware (pruned)", "DraftTree", true, true),
            ("jump-forward (forced), unconstrained", "JumpForward", false, false),
            ("jump-forward alone", "JumpForward", true, true),
            ("jump-forward + draft, unconstrained", "JumpForwardSpeculative", false, false),
            ("jump-forward + grammar-aware draft", "JumpForwardSpeculative", true, true),
        };
        var rows = new List<DecodeRow>();
        int[][]? reference = null;
        foreach (var (name, strategy, constrained, maskDrafts) in configs)
        {
            using var decoder = Create(strategy);
            var options = new GenerationOptions { MaxNewTokens = maxTokens, Constraint = constrained ? matcher : null, ConstrainProposals = maskDrafts };
            decoder.Generate(prompts[0], options with { MaxNewTokens = 8 }); // warm-up: JIT, the masks of the first states
            var row = new DecodeRow { Config = name, Strategy = strategy, Constrained = constrained, DraftsMasked = maskDrafts };
            var outputs = new int[prompts.Length][];
            for (int i = 0; i < prompts.Length; i++)
            {
                timedTarget.ResetTimer();
                timedDraft.ResetTimer();
                var result = decoder.Generate(prompts[i], options);
                outputs[i] = result.Tokens.ToArray();
                row.Tokens += result.Stats.Tokens;
                row.Steps += result.Stats.Steps;
                row.DecodeSeconds += result.Stats.DecodeTime.TotalSeconds;
                // Forwards inside the decode: the prefill is timed by the model too but is not decode time.
                row.ModelSeconds += timedTarget.ForwardTime.TotalSeconds + timedDraft.ForwardTime.TotalSeconds - result.Stats.PrefillTime.TotalSeconds;
                if (constrained)
                {
                    string text = Encoding.UTF8.GetString(vocabulary.Concatenate(result.Tokens));
                    row.Outputs++;
                    try { if (constraint.Dfa.Matches(text) && schema.Evaluate(JsonDocument.Parse(text).RootElement).IsValid) row.Valid++; }
                    catch (JsonException) { }
                    if (i == 0) row.Sample = text;
                }
            }
            if (name == "constrained greedy") reference = outputs;
            if (constrained && reference is not null)
                row.EqualsConstrainedGreedy = outputs.Zip(reference).All(p => p.First.SequenceEqual(p.Second));
            if (constrained && rows.LastOrDefault(r => r.Strategy == strategy && !r.Constrained) is { } plain)
                row.ConstraintOverhead = (row.HostMsPerStep - plain.HostMsPerStep) / row.StepMs;
            rows.Add(row);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name,-44} {row.TokensPerStep,5:F2} tok/step {row.TokensPerSecond,7:F1} tok/s  step {row.StepMs,6:F2} ms (host {row.HostMsPerStep,5:F2})  host share {row.HostShare.ToString("P1", CultureInfo.InvariantCulture),6}  Δ {(row.ConstraintOverhead is { } o ? o.ToString("P1", CultureInfo.InvariantCulture) : "-"),6}  valid {row.Valid}/{row.Outputs}  {(constrained ? row.EqualsConstrainedGreedy ? "= constrained greedy" : "differs" : "")}"));
        }
        return rows;
    }

    // ------------------------------------------------------------------ (3) DINGO on the diffusion LM

    private static List<DecodeRow> Dingo(string root, int promptCount, int length)
    {
        using var diffusion = PretrainedModel.Load(Path.Combine(root, "models", "english", "diffusion"), CPU, ScalarType.Float32, requireTokenizer: true);
        var timed = new TimedModel(diffusion.Model);
        var models = new ModelSet().Add("model", timed);
        var tokenizer = diffusion.Tokenizer!;
        var vocabulary = TokenVocabulary.From(tokenizer);
        var constraint = TokenConstraint.FromJsonSchema(Schema);
        var matcher = constraint.For(vocabulary);
        var schema = Json.Schema.JsonSchema.FromText(Schema);
        var prompts = File.ReadLines(Path.Combine(root, "models", "eval", "prompts.english.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!)
            .Take(promptCount).Select(p => tokenizer.Encode(p + "\nAnswer in JSON:", addBos: true)).Select(p => p.Length > 48 ? p[^48..] : p).ToArray();
        var rows = new List<DecodeRow>();
        foreach (string strategy in new[] { "LladaOneByOne", "FastDllmThreshold", "Llada" })
        {
            foreach (bool constrained in new[] { false, true })
            {
                using var decoder = GeneratedStrategies.All.Single(s => s.Name == strategy).Create(models, null, 256);
                var options = new GenerationOptions { MaxNewTokens = length, Constraint = constrained ? matcher : null };
                decoder.Generate(prompts[0], options with { MaxNewTokens = 8 });
                var row = new DecodeRow { Config = strategy + (constrained ? ", JSON schema (DINGO)" : ", unconstrained"), Strategy = strategy, Constrained = constrained };
                foreach (var prompt in prompts)
                {
                    timed.ResetTimer();
                    long start = Stopwatch.GetTimestamp();
                    var result = decoder.Generate(prompt, options);
                    row.DecodeSeconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
                    row.ModelSeconds += timed.ForwardTime.TotalSeconds;
                    row.Tokens += result.Stats.Tokens;
                    row.Steps += result.Stats.Steps;
                    if (constrained)
                    {
                        string text = Encoding.UTF8.GetString(vocabulary.Concatenate(result.Tokens));
                        row.Outputs++;
                        try { if (constraint.Dfa.Matches(text) && schema.Evaluate(JsonDocument.Parse(text).RootElement).IsValid) row.Valid++; }
                        catch (JsonException) { }
                        if (row.Sample.Length == 0) row.Sample = text;
                    }
                }
                if (constrained && rows.LastOrDefault(r => r.Strategy == strategy && !r.Constrained) is { } plain)
                    row.ConstraintOverhead = (row.HostMsPerStep - plain.HostMsPerStep) / row.StepMs;
                rows.Add(row);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {row.Config,-44} {row.TokensPerStep,5:F2} tok/step {row.TokensPerSecond,7:F1} tok/s  step {row.StepMs,6:F2} ms (host {row.HostMsPerStep,5:F2})  host share {row.HostShare.ToString("P1", CultureInfo.InvariantCulture),6}  Δ {(row.ConstraintOverhead is { } o ? o.ToString("P1", CultureInfo.InvariantCulture) : "-"),6}  valid {row.Valid}/{row.Outputs}"));
            }
        }
        return rows;
    }

    // ------------------------------------------------------------------ results

    private static void Write(string outDir, string[] args, string loadAtStart, List<MaskRow> masks, List<DecodeRow> decodes,
                              List<DecodeRow> dingo, int prompts, int maxTokens, int repeats)
    {
        Directory.CreateDirectory(outDir);
        string command = "dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- constrained " + string.Join(' ', args);
        string loadAtEnd = File.ReadAllText("/proc/loadavg").Trim();
        string date = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture);
        var json = new { command, date, cpu = Machine.Cpu, loadAtStart, loadAtEnd, threads = 1, prompts, maxTokens, repeats, schema = Schema, masks, decodes, dingo };
        File.WriteAllText(Path.Combine(outDir, "constrained-decoding.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));

        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine("# Constrained decoding: mask cost against vocabulary size, drafting under a constraint, DINGO");
        md.AppendLine();
        md.AppendLine(inv, $"Command: `{command}` ({date}, one torch thread, f32; CPU: {Machine.Cpu}; load average at start `{loadAtStart}`, at end `{loadAtEnd}`). Raw numbers: `constrained-decoding.json`.");
        md.AppendLine();
        md.AppendLine("## 1. Token masks against vocabulary size");
        md.AppendLine();
        md.AppendLine(inv, $"Along the token path of a JSON document valid under each schema (its greedy tokenisation through allowed tokens). *Cold*: a fresh matcher; a state's mask is built the first time the state is reached (walking the token trie together with the DFA) — mean and max over the distinct states on the path. *Cached*: the same path {repeats} more times: masking a fresh float32 logits row from the kept mask (all-allowed 64-token words skipped, all-forbidden ones filled), and the state after the token. *First pass*: cold builds, masking and advancing, per token of the path. *All reachable*: every state reachable from the start over allowed tokens, masks built ahead of time (`TokenMatcher.Precompute`).");
        md.AppendLine();
        md.AppendLine("| vocabulary | ids | constraint | DFA states | path tokens | states on path | cold µs/state (mean) | cold max | cached mask µs/token | next µs/token | first pass µs/token | all reachable states | precompute ms | vocabulary bytes + trie ms |");
        md.AppendLine("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in masks)
            md.AppendLine(inv, $"| {r.Vocabulary} | {r.VocabSize} | {r.Constraint} | {r.DfaStates} | {r.PathTokens} | {r.PathStates} | {r.ColdMeanUs:F1} | {r.ColdMaxUs:F0} | {r.CachedMaskUs:F2} | {r.CachedNextUs:F2} | {r.FirstPassPerTokenUs:F1} | {r.ReachableStates} | {r.PrecomputeMs:F0} | {r.TrieBuildMs:F0} |");
        md.AppendLine();
        md.AppendLine("## 2. A JSON-schema task on the shipped English target and draft");
        md.AppendLine();
        md.AppendLine(inv, $"{prompts} held-out prompts + \"\\nAnswer in JSON:\" (last 64 tokens), at most {maxTokens} tokens, schema `{Schema.Trim()}`. tok/s = generated tokens / decode time (prefill excluded); host ms/step = (decode time − target and draft forward time) / steps; *host share* = host ms/step over step ms: everything the loop does besides the forwards, the constraint's masks, tree states and advances included, so it bounds the constraint's overhead from above; *Δ host* = host ms/step above the same strategy's unconstrained run, over the constrained step (meaningful only where both runs do the same work per step — drafting runs differ: an unconstrained tree is wider, a pruned one narrower — so it can be negative). *valid* = outputs that match the schema's DFA and validate with JsonSchema.Net (an output cut by the token budget is not valid JSON). Lossless rows must equal constrained greedy token for token.");
        md.AppendLine();
        AppendDecodeTable(md, decodes, showEquality: true);
        md.AppendLine();
        md.AppendLine("## 3. DINGO on the shipped diffusion LM");
        md.AppendLine();
        md.AppendLine(inv, $"The same prompts (last 48 tokens), a 48-token canvas, the same schema; each block's masked predictions replaced by DINGO's most probable accepted assignment every time predictions are installed. Host time per step includes the dynamic program (and, for the unconstrained runs, only the canvas bookkeeping).");
        md.AppendLine();
        AppendDecodeTable(md, dingo, showEquality: false);
        md.AppendLine();
        md.AppendLine("Samples (first prompt):");
        md.AppendLine();
        foreach (var r in decodes.Concat(dingo).Where(r => r.Constrained))
            md.AppendLine(inv, $"- {r.Config}: `{r.Sample.Replace("`", "'", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)}`");
        File.WriteAllText(Path.Combine(outDir, "constrained-decoding.md"), md.ToString());
        Console.WriteLine($"wrote {Path.Combine(outDir, "constrained-decoding.md")}");
    }

    private static void AppendDecodeTable(StringBuilder md, List<DecodeRow> rows, bool showEquality)
    {
        var inv = CultureInfo.InvariantCulture;
        md.AppendLine("| configuration | strategy | tokens | steps | tokens/step | tok/s | step ms | host ms/step | host share of step | Δ host vs unconstrained, of step | valid | " + (showEquality ? "= constrained greedy |" : ""));
        md.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (showEquality ? " --- |" : ""));
        foreach (var r in rows)
        {
            string overhead = r.ConstraintOverhead is { } o ? o.ToString("P1", inv) : "—";
            string valid = r.Constrained ? $"{r.Valid}/{r.Outputs}" : "—";
            string equal = !showEquality ? "" : $" {(r.Constrained ? r.EqualsConstrainedGreedy ? "yes" : "no" : "—")} |";
            md.AppendLine(string.Create(inv, $"| {r.Config} | {r.Strategy} | {r.Tokens} | {r.Steps} | {r.TokensPerStep:F2} | {r.TokensPerSecond:F1} | {r.StepMs:F2} | {r.HostMsPerStep:F3} | {r.HostShare.ToString("P1", inv)} | {overhead} | {valid} |{equal}"));
        }
    }
}
