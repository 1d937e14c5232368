// Pardec in an app, one strategy of every family: load the shipped models once, run each family's strategy (declared
// in strategies.pdec, and prompt lookup as a [Strategy] class in Lookup.cs; the package's source generator compiles all
// of them into decoders), check that every lossless one reproduces greedy decoding token for token, then chat through
// IChatClient. Before any of that it checks that every assembly Pardec's lib/ references resolves in this app, which is
// what fails when the package forgets a dependency (an assembly missing from the app's output, or older than the one
// the package was compiled against).
//
//   dotnet run -- [models directory]      (default: <repo>/models/english, with target/, draft/, medusa/, diffusion/)
//
// Exit code: 0 on success, 1 when a check fails (a family throws, a lossless strategy differs from greedy, an assembly
// does not resolve), 2 on a bad argument.

using System.Diagnostics;
using System.Reflection;
using Microsoft.Extensions.AI;
using Pardec.Extensions.AI;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Sample.Strategies;
using TorchSharp;
using static TorchSharp.torch;

torch.set_num_threads(1); // a shared 2-core machine: one thread is fastest and reproducible

string modelsDirectory = Path.GetFullPath(args.Length > 0 ? args[0] : DefaultModelsDirectory());
string[] roles = ["target", "draft", "medusa", "diffusion"];
if (roles.FirstOrDefault(r => !Directory.Exists(Path.Combine(modelsDirectory, r))) is { } absent)
{
    Console.Error.WriteLine($"No '{absent}' model in '{modelsDirectory}': expected the directories {string.Join(", ", roles)} (as models/english has).");
    return 2;
}

int failures = CheckPackageAssemblies();

string Dir(string role) => Path.Combine(modelsDirectory, role);
using var target = PretrainedModel.Load(Dir("target"), CPU, ScalarType.Float32, requireTokenizer: true);
using var draft = PretrainedModel.Load(Dir("draft"), CPU, ScalarType.Float32);
using var diffusion = PretrainedModel.Load(Dir("diffusion"), CPU, ScalarType.Float32);
using var heads = MedusaHeads.Load(Dir("medusa"), target.Config, CPU, ScalarType.Float32);
target.Model.eval();
draft.Model.eval();
diffusion.Model.eval();
var tokenizer = target.Tokenizer!;
Console.WriteLine($"Models: {modelsDirectory} (target {target.Config.NumHiddenLayers} layers, draft {draft.Config.NumHiddenLayers} layers, "
                  + $"{heads.Count} Medusa heads, diffusion {diffusion.Config.NumHiddenLayers} layers; vocabulary {target.Config.VocabSize})");

string[] prompts =
[
    "And God said, Let there be light: and there was light. And God saw the light, that it was good: and God divided",
    "In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness",
];
var options = new GenerationOptions { MaxNewTokens = 32 }; // short: this runs in CI

// The reference: plain greedy decoding. Every decoder owns its KV cache; the weights are shared.
DecodeResult[] greedy;
using (var baseline = new BaselineDecoder(target.Model))
    greedy = prompts.Select(p => Timed(() => new TextDecoder(baseline, tokenizer).Generate(p, options), out _)).ToArray();
Console.WriteLine($"\n[greedy] Baseline: {greedy[0].Stats}\n  {prompts[0]}{greedy[0].Text}");

// One strategy per causal family, each lossless: it must reproduce greedy decoding token for token.
(string Family, Func<IDecoder> Create)[] causal =
[
    ("draft model", () => new SpeculativeDecoder(target.Model, draft.Model)),
    ("staged draft", () => new StagedSpeculativeDecoder(target.Model, draft.Model)),
    ("token tree", () => new DraftTreeDecoder(target.Model, draft.Model)),
    ("Medusa heads", () => new MedusaTreeDecoder(target.Model, heads)),
    ("n-gram pool", () => new LookaheadDecoder(target.Model)),
    ("prompt lookup", () => new LookupDecoder(target.Model)),
];
foreach (var (family, create) in causal)
    Check(family, () =>
    {
        using var decoder = create();
        var result = Timed(() => new TextDecoder(decoder, tokenizer).Generate(prompts[0], options), out long ms);
        bool same = result.Tokens.SequenceEqual(greedy[0].Tokens);
        Console.WriteLine($"[{family}] {decoder.Strategy}: {Summary(result.Stats, ms)}; {(same ? "equals greedy" : "DIFFERS from greedy")}");
        return same;
    });

// Masked (diffusion) canvas: lossy by design, so it only has to produce text.
Check("masked canvas", () =>
{
    using var decoder = new FastDllmDecoder(diffusion.Model);
    var result = Timed(() => new TextDecoder(decoder, tokenizer).Generate(prompts[0], options), out long ms);
    Console.WriteLine($"[masked canvas] {decoder.Strategy}: {Summary(result.Stats, ms)}\n  {prompts[0]}{result.Text}");
    return result.Tokens.Count > 0;
});

// Batched: both prompts in one batch; each row must equal greedy decoding of its own prompt.
Check("batched", () =>
{
    using var decoder = new BatchedSpeculativeDecoder(target.Model, draft.Model);
    var ids = prompts.Select(p => tokenizer.Encode(p, options.AddBos)).ToArray();
    var rows = Timed(() => decoder.GenerateBatch(ids, options), out long ms);
    bool same = rows.Select((r, i) => r.Tokens.SequenceEqual(greedy[i].Tokens)).All(s => s);
    Console.WriteLine($"[batched] {decoder.Strategy} (batch {decoder.Batch}): {rows.Count} rows, {rows.Sum(r => r.Tokens.Count)} tokens in {ms} ms, "
                      + $"rows {string.Join(" / ", rows.Select(r => $"{r.Stats.Steps} steps"))}; {(same ? "every row equals greedy" : "a row DIFFERS from greedy")}");
    return same;
});

// The same decoders behind Microsoft.Extensions.AI's IChatClient (plain-text chat template for a base model).
await CheckAsync("chat", async () =>
{
    using IChatClient chat = new PardecChatClient(new SpeculativeDecoder(target.Model, draft.Model), tokenizer, new() { OwnsDecoder = true });
    var messages = new List<ChatMessage> { new(ChatRole.System, "You answer in the style of the King James Bible."), new(ChatRole.User, "What did God divide?") };
    var text = new System.Text.StringBuilder();
    ChatFinishReason? finish = null;
    UsageDetails? usage = null;
    await foreach (var update in chat.GetStreamingResponseAsync(messages, new ChatOptions { MaxOutputTokens = 24 }))
    {
        text.Append(update.Text);
        finish ??= update.FinishReason;
        usage ??= update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
    }
    Console.WriteLine($"[chat] Assistant: {text.ToString().Trim()}\n[chat] finish: {finish}, tokens in/out: {usage?.InputTokenCount}/{usage?.OutputTokenCount}");
    return finish is not null && usage?.OutputTokenCount > 0;
});

Console.WriteLine(failures == 0 ? "\nSample: every family ran from the packed package." : $"\nSample: {failures} check(s) FAILED.");
return failures == 0 ? 0 : 1;

// A family that throws is reported and counted, and the others still run: one run shows every missing piece.
void Check(string family, Func<bool> run)
{
    try { if (!run()) failures++; }
    catch (Exception e) { failures++; Console.WriteLine($"[{family}] FAILED: {Describe(e)}"); }
}

async Task CheckAsync(string family, Func<Task<bool>> run)
{
    try { if (!await run()) failures++; }
    catch (Exception e) { failures++; Console.WriteLine($"[{family}] FAILED: {Describe(e)}"); }
}

static string Describe(Exception e)
{
    var inner = e;
    while (inner.InnerException is not null && inner is TypeInitializationException or TargetInvocationException) inner = inner.InnerException;
    return $"{inner.GetType().FullName}: {inner.Message}";
}

static T Timed<T>(Func<T> run, out long milliseconds)
{
    var clock = Stopwatch.StartNew();
    var result = run();
    milliseconds = clock.ElapsedMilliseconds;
    return result;
}

static string Summary(DecodeStats s, long ms) =>
    $"{s.Tokens} tokens in {s.Steps} steps ({s.MeanAcceptedPerStep:F2}/step), {s.TargetForwards} target + {s.DraftForwards} draft forwards, {ms} ms";

// Every assembly the package's lib/ references must load in this app, at a version at least the one compiled against:
// the runtime resolves it from the app's deps.json (the package's dependency closure) or the shared framework.
static int CheckPackageAssemblies()
{
    int missing = 0, resolved = 0;
    var libraries = Directory.GetFiles(AppContext.BaseDirectory, "Pardec.*.dll")
        .Where(f => !Path.GetFileName(f).StartsWith("Pardec.Sample", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
    foreach (var file in libraries)
    {
        var assembly = Assembly.Load(AssemblyName.GetAssemblyName(file));
        foreach (var reference in assembly.GetReferencedAssemblies())
        {
            try
            {
                Assembly.Load(reference);
                resolved++;
            }
            catch (Exception e) when (e is FileNotFoundException or FileLoadException)
            {
                missing++;
                Console.WriteLine($"[package] FAILED: {assembly.GetName().Name} references {reference.Name} {reference.Version}, which neither the Pardec package nor its dependencies provide: {e.Message}");
            }
        }
    }
    Console.WriteLine($"[package] {libraries.Length} Pardec assemblies ({string.Join(", ", libraries.Select(Path.GetFileNameWithoutExtension))}): "
                      + $"{resolved} references resolved, {missing} missing");
    return missing;
}

static string DefaultModelsDirectory()
{
    foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return Path.Combine(dir.FullName, "models", "english");
    return Path.Combine("models", "english");
}
