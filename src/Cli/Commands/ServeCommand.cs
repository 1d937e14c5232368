using System.CommandLine;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Pardec.Cli.Models;
using Pardec.Runtime.Interpretation;
using Pardec.Server;
using Pardec.Server.Batching;

namespace Pardec.Cli.Commands;

/// <summary>
/// <c>pardec serve</c>: an OpenAI-compatible HTTP server (see docs/serve.md). One deployment from
/// <c>--model/--draft/--strategy</c>, or several from <c>--deployment name=…,strategy=…[,model=…][,draft=…]</c>, each
/// chosen by the request's <c>model</c>. Runs until SIGTERM or Ctrl+C, then drains the running requests.
/// </summary>
internal static class ServeCommand
{
    private static readonly string[] DeploymentKeys = ["name", "strategy", "model", "draft", "heads", "batch", "max-queue", "prefill-chunk", "context", "batching", "speculation"];

    public static Command Create(CliContext context)
    {
        var decode = new DecodeOptions();
        var strategy = new Option<string?>("--strategy") { Description = "A library strategy name or a .pdec file for the one deployment (default: Greedy)" };
        var name = new Option<string?>("--name") { Description = "The deployment's id, matched against the request's 'model' (default: the strategy's name)" };
        var deployments = new Option<string[]>("--deployment")
        {
            Description = "A named deployment (repeatable): name=ID,strategy=S[,model=DIR][,draft=DIR][,heads=DIR][,batch=N][,max-queue=N]"
                          + "[,prefill-chunk=N][,context=N][,batching=off][,speculation=auto][,param.P=V]; unset keys take the command's options",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port to listen on", DefaultValueFactory = _ => 8000 };
        var batch = new Option<int?>("--batch") { Description = "Rows decoded together (continuous batching), or decoders for strategies served by a pool; default: the strategy's batch parameter, else 8 rows / 2 decoders" };
        var maxQueue = new Option<int>("--max-queue") { Description = "Requests that may wait for a row; more get 429", DefaultValueFactory = _ => 64 };
        var prefillChunk = new Option<int>("--prefill-chunk") { Description = "Prompt tokens a joining request feeds per step (chunked prefill bounds time to first token)", DefaultValueFactory = _ => 32 };
        var contextLength = new Option<int?>("--context") { Description = "Tokens of prompt and reply together; default: the model's max_position_embeddings" };
        var speculation = new Option<SpeculationMode>("--speculation")
        {
            Description = "Batched draft-chain strategies: always draft, off, or auto (draft while the measured step times say it pays at the current batch size)",
            DefaultValueFactory = _ => SpeculationMode.Always,
        };
        var drain = new Option<double>("--drain-timeout") { Description = "Seconds a shutdown waits for running requests", DefaultValueFactory = _ => 30 };
        var command = new Command("serve", "Serve strategies over an OpenAI-compatible HTTP API with continuous batching")
        {
            strategy, name, deployments, host, port, batch, maxQueue, prefillChunk, contextLength, speculation, drain,
        };
        foreach (var o in new Option[] { decode.Model, decode.Draft, decode.Heads, decode.ModelsRoot, decode.Params, decode.EngineOption, decode.DType, decode.Device, decode.Threads })
            command.Options.Add(o);
        command.SetAction(parse => Cli.Guard(context, () =>
        {
            var defaults = new DeploymentOptions
            {
                Concurrency = parse.GetValue(batch),
                MaxQueue = Positive(parse.GetValue(maxQueue), "--max-queue", allowZero: true),
                PrefillChunk = Positive(parse.GetValue(prefillChunk), "--prefill-chunk"),
                ContextLength = parse.GetValue(contextLength),
                Speculation = parse.GetValue(speculation),
            };
            var given = parse.GetValue(deployments) ?? [];
            var wanted = given.Length == 0
                ? [new Dictionary<string, string>(StringComparer.Ordinal) { ["strategy"] = parse.GetValue(strategy) ?? "Greedy", ["name"] = parse.GetValue(name) ?? "" }]
                : given.Select(ParseDeployment).ToList();
            var (device, dtype) = decode.Torch(parse);
            var bindings = new Dictionary<string, ModelBinding>(StringComparer.Ordinal);
            try
            {
                var specs = new List<DeploymentSpec>();
                var perName = new Dictionary<string, DeploymentOptions>(StringComparer.Ordinal);
                foreach (var d in wanted)
                {
                    var resolved = StrategyCatalog.Resolve(d["strategy"], context.Error);
                    string id = d.GetValueOrDefault("name") is { Length: > 0 } n ? n : resolved.Plan.Name;
                    var overrides = DecodeOptions.ParseAssignments(parse.GetValue(decode.Params) ?? []);
                    foreach (var (param, value) in d.Where(kv => kv.Key.StartsWith("param.", StringComparison.Ordinal))) overrides[param["param.".Length..]] = value;
                    _ = new ParamValues(resolved.Plan, overrides); // names a wrong parameter before any model loads
                    var root = decode.Paths(parse);
                    var paths = root with
                    {
                        Model = d.GetValueOrDefault("model") ?? root.Model,
                        Draft = d.GetValueOrDefault("draft") ?? root.Draft,
                        Heads = d.GetValueOrDefault("heads") ?? root.Heads,
                    };
                    string key = string.Join('\0', paths.Target, paths.DraftDir, paths.HeadsDir);
                    if (!bindings.TryGetValue(key, out var binding)) bindings[key] = binding = new ModelBinding(paths, device, dtype, context.Error);
                    var models = binding.Bind(resolved.Plan);
                    var engine = parse.GetValue(decode.EngineOption);
                    string directory = resolved.Plan.Canvas.Kind == Dsl.Plan.CanvasKind.Masked ? paths.Diffusion : paths.Target;
                    specs.Add(new DeploymentSpec(id, resolved.Plan, models.Set, models.Main, models.Tokenizer,
                        maxLength => DecodeOptions.CreateDecoder(resolved, engine, models.Set, overrides, maxLength, context.Error), directory, overrides));
                    perName[id] = defaults with
                    {
                        Concurrency = Int(d, "batch") ?? defaults.Concurrency,
                        MaxQueue = Int(d, "max-queue") ?? defaults.MaxQueue,
                        PrefillChunk = Int(d, "prefill-chunk") ?? defaults.PrefillChunk,
                        ContextLength = Int(d, "context") ?? defaults.ContextLength,
                        DisableBatching = d.GetValueOrDefault("batching") is "off" or "false",
                        Speculation = d.TryGetValue("speculation", out var mode)
                            ? Enum.TryParse<SpeculationMode>(mode, ignoreCase: true, out var m) ? m : throw new CliException($"--deployment speculation={mode}: expected always, auto or off")
                            : defaults.Speculation,
                    };
                }
                var options = new ServerOptions { Defaults = defaults, Deployments = perName, DrainTimeout = TimeSpan.FromSeconds(parse.GetValue(drain)) };
                string url = string.Create(CultureInfo.InvariantCulture, $"http://{parse.GetValue(host)}:{parse.GetValue(port)}");
                using var app = PardecServer.Build(specs, options, configure: builder => builder.WebHost.UseUrls(url));
                context.Error.WriteLine($"pardec serve: {string.Join(", ", specs.Select(s => $"'{s.Name}' ({s.Plan.Name})"))} on {url}/v1");
                app.Run();
                return Cli.Success;
            }
            finally
            {
                foreach (var b in bindings.Values) b.Dispose();
            }
        }));
        return command;
    }

    /// <summary><c>name=fast,strategy=BatchedSpeculative,draft=DIR,param.gamma=4</c> as keys and values.</summary>
    internal static Dictionary<string, string> ParseDeployment(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0 || eq == part.Length - 1) throw new CliException($"--deployment '{text}': '{part}' is not key=value");
            string key = part[..eq].Trim(), value = part[(eq + 1)..].Trim();
            if (!DeploymentKeys.Contains(key) && !key.StartsWith("param.", StringComparison.Ordinal))
                throw new CliException($"--deployment '{text}': unknown key '{key}'; expected {string.Join(", ", DeploymentKeys)} or param.NAME");
            if (!result.TryAdd(key, value)) throw new CliException($"--deployment '{text}': '{key}' is given twice");
        }
        if (!result.ContainsKey("name")) throw new CliException($"--deployment '{text}': give it a name=ID (the request's 'model')");
        if (!result.ContainsKey("strategy")) throw new CliException($"--deployment '{text}': give it a strategy=NAME or a .pdec file");
        return result;
    }

    private static int? Int(Dictionary<string, string> d, string key) =>
        d.TryGetValue(key, out var v)
            ? int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 0 ? n : throw new CliException($"--deployment {key}={v}: expected a whole number")
            : null;

    private static int Positive(int value, string option, bool allowZero = false) =>
        value > 0 || (allowZero && value == 0) ? value : throw new CliException($"{option} {value}: must be {(allowZero ? "at least 0" : "at least 1")}");
}
