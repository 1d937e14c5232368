using System.CommandLine;
using Pardec.Cli.Models;
using Pardec.Cli.Trace;
using Pardec.Runtime.Decoding;

namespace Pardec.Cli.Commands;

/// <summary><c>pardec trace --strategy S --prompt TEXT [--out trace.html]</c>: one decode, step by step, as an HTML page.</summary>
internal static class TraceCommand
{
    public static Command Create(CliContext context)
    {
        var strategy = new Option<string>("--strategy") { Description = "A library strategy name or a .pdec file", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "The text to continue", DefaultValueFactory = _ => RunCommand.DefaultPrompt };
        var output = new Option<string>("--out") { Description = "The HTML file to write", DefaultValueFactory = _ => "trace.html" };
        var decode = new DecodeOptions();
        var command = new Command("trace", "Write a self-contained HTML page of one decode: steps, candidates and verified trees") { strategy, prompt, output };
        decode.AddTo(command);
        command.SetAction(parse => Cli.Guard(context, () =>
        {
            var resolved = StrategyCatalog.Resolve(parse.GetValue(strategy)!, context.Error);
            var parameters = decode.Parameters(parse, resolved.Plan);
            var options = decode.Generation(parse);
            var (device, dtype) = decode.Torch(parse);
            using var binding = new ModelBinding(decode.Paths(parse), device, dtype, context.Error);
            var models = binding.Bind(resolved.Plan);
            string text = parse.GetValue(prompt)!;
            int promptTokens = models.Tokenizer.Encode(text, options.AddBos).Length;
            int maxLength = DecodeOptions.MaxLength(resolved.Plan, promptTokens, options.MaxNewTokens, models.Main.Config.MaxPositionEmbeddings);
            using var decoder = DecodeOptions.CreateDecoder(resolved, parse.GetValue(decode.EngineOption), models.Set, parameters, maxLength, context.Error);
            var recorder = new TraceRecorder();
            var result = new TextDecoder(decoder, models.Tokenizer).Generate(text, options, recorder.OnText, recorder);
            string html = TraceHtml.Write(resolved.Plan.Name, decoder.PlanText, text, recorder.Steps, result, models.Tokenizer);
            string path = parse.GetValue(output)!;
            if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
            File.WriteAllText(path, html);
            context.Output.WriteLine(RunCommand.Summary(resolved.Plan.Name, result, models.Main.DType));
            context.Output.WriteLine($"wrote {path} ({recorder.Steps.Count} steps)");
            return Cli.Success;
        }));
        return command;
    }
}
