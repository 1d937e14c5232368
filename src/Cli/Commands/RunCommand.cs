using System.CommandLine;
using System.Globalization;
using Pardec.Cli.Models;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Loading;
using static TorchSharp.torch;

namespace Pardec.Cli.Commands;

/// <summary><c>pardec run &lt;strategy | file.pdec&gt;</c>: streams the text as steps commit it, then a one-line summary.</summary>
internal static class RunCommand
{
    public const string DefaultPrompt = "In the beginning";

    public static Command Create(CliContext context)
    {
        var strategy = new Argument<string>("strategy") { Description = "A library strategy name (see 'pardec list') or a .pdec file" };
        var prompt = new Option<string>("--prompt") { Description = "The text to continue", DefaultValueFactory = _ => DefaultPrompt };
        var decode = new DecodeOptions();
        var constraints = new ConstraintOptions();
        var command = new Command("run", "Run a strategy on a model and stream the generated text") { strategy, prompt };
        decode.AddTo(command);
        constraints.AddTo(command);
        command.SetAction(parse => Cli.Guard(context, () =>
        {
            var resolved = StrategyCatalog.Resolve(parse.GetValue(strategy)!, context.Error);
            var parameters = decode.Parameters(parse, resolved.Plan);
            var options = decode.Generation(parse);
            var (device, dtype) = decode.Torch(parse);
            using var binding = new ModelBinding(decode.Paths(parse), device, dtype, context.Error);
            var models = binding.Bind(resolved.Plan);
            options = options with { Constraint = constraints.Matcher(parse, models.Tokenizer) };
            string text = parse.GetValue(prompt)!;
            int promptTokens = models.Tokenizer.Encode(text, options.AddBos).Length;
            int maxLength = DecodeOptions.MaxLength(resolved.Plan, promptTokens, options.MaxNewTokens, models.Main.Config.MaxPositionEmbeddings);
            using var decoder = DecodeOptions.CreateDecoder(resolved, parse.GetValue(decode.EngineOption), models.Set, parameters, maxLength, context.Error);
            var textDecoder = new TextDecoder(decoder, models.Tokenizer);
            context.Output.Write(text);
            var result = textDecoder.Generate(text, options, piece => { context.Output.Write(piece); context.Output.Flush(); });
            context.Output.WriteLine();
            context.Output.WriteLine(Summary(resolved.Plan.Name, result, models.Main.DType));
            return Cli.Success;
        }));
        return command;
    }

    /// <param name="dtype">The main model's dtype, named in the summary (with --dtype auto it depends on the machine).</param>
    public static string Summary(string strategy, DecodeResult result, ScalarType? dtype = null)
    {
        var s = result.Stats;
        return string.Create(CultureInfo.InvariantCulture,
            $"[{strategy}] {s.Tokens} tokens, {s.TokensPerSecond:F1} tok/s, {s.MeanAcceptedPerStep:F2} accepted/step, "
            + $"{s.TargetForwards} target forwards, {s.DraftForwards} draft forwards ({StopText(result.StopReason)}{(dtype is { } d ? ", " + AutoDType.Name(d) : "")})");
    }

    private static string StopText(StopReason reason) => reason switch
    {
        StopReason.MaxNewTokens => "max tokens",
        StopReason.EndOfSequence => "end of sequence",
        StopReason.StopString => "stop string",
        StopReason.CacheFull => "context full",
        StopReason.Unsatisfiable => "the constraint admits no further token",
        _ => "cancelled",
    };
}
