using System.CommandLine;
using Pardec.Cli.Models;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Chat;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Tokenization;

namespace Pardec.Cli.Commands;

/// <summary>
/// <c>pardec chat --model DIR [--draft DIR] [--strategy NAME]</c>: a conversation in the terminal. Each line read is a
/// user turn; the reply streams as the strategy commits it; the conversation is kept and rendered with the model's own
/// chat template (<see cref="ModelChatTemplate"/>), or the plain-text format for a model without one. <c>/exit</c>
/// (or the end of input) ends it, <c>/reset</c> forgets the conversation. With piped input nothing but the replies
/// goes to stdout (one block per turn); the banner and per-turn statistics go to stderr.
/// </summary>
internal static class ChatCommand
{
    public const string DefaultStrategy = "Greedy";
    public const string DefaultDraftStrategy = "SpeculativeGreedy";

    public static Command Create(CliContext context)
    {
        var strategy = new Option<string?>("--strategy") { Description = $"A library strategy name or a .pdec file; default {DefaultStrategy}, or {DefaultDraftStrategy} with --draft" };
        var system = new Option<string?>("--system") { Description = "A system message that starts the conversation" };
        var decode = new DecodeOptions();
        var command = new Command("chat", "Chat with a model in the terminal, in its own chat template; /exit to quit") { strategy, system };
        decode.AddTo(command);
        command.SetAction(parse => Cli.Guard(context, () =>
        {
            string name = parse.GetValue(strategy) ?? (parse.GetValue(decode.Draft) is null ? DefaultStrategy : DefaultDraftStrategy);
            var resolved = StrategyCatalog.Resolve(name, context.Error);
            var parameters = decode.Parameters(parse, resolved.Plan);
            var options = decode.Generation(parse);
            var (device, dtype) = decode.Torch(parse);
            var paths = decode.Paths(parse);
            using var binding = new ModelBinding(paths, device, dtype);
            var models = binding.Bind(resolved.Plan);
            var template = Template(paths.Target);
            context.Error.WriteLine($"pardec chat: {paths.Target}, {resolved.Plan.Name}, "
                                    + (ReferenceEquals(template, ModelChatTemplate.PlainText) ? "no chat template (plain text)" : "chat template from " + template.Template.SourceName)
                                    + ". /exit to quit, /reset to start over.");
            var session = new Session(context, template, models.Tokenizer, template.ForReply(options, models.Tokenizer),
                maxLength => DecodeOptions.CreateDecoder(resolved, parse.GetValue(decode.EngineOption), models.Set, parameters, maxLength, context.Error),
                resolved.Plan, models.Main.Config.MaxPositionEmbeddings, parse.GetValue(system));
            session.Run();
            return Cli.Success;
        }));
        return command;
    }

    private static ModelChatTemplate Template(string modelDirectory)
    {
        try { return ModelChatTemplate.FromDirectory(modelDirectory) ?? ModelChatTemplate.PlainText; }
        catch (ChatTemplateException e) { throw new CliException(e.Message); }
    }

    /// <summary>The conversation and the loop over input lines.</summary>
    private sealed class Session(CliContext context, ModelChatTemplate template, TextTokenizer tokenizer, GenerationOptions options,
                                 Func<int, IDecoder> createDecoder, DecodePlan plan, int maxPositions, string? system)
    {
        private readonly List<ChatTurn> _turns = [];
        private readonly bool _interactive = ReferenceEquals(context.Input, Console.In) && !Console.IsInputRedirected;

        public void Run()
        {
            Reset();
            while (true)
            {
                if (_interactive) { context.Output.Write("> "); context.Output.Flush(); }
                string? line = context.Input.ReadLine();
                if (line is null) break;
                line = line.Trim();
                if (line.Length == 0) continue;
                if (line is "/exit" or "/quit") break;
                if (line == "/reset") { Reset(); context.Error.WriteLine("(conversation cleared)"); continue; }
                Turn(line);
            }
        }

        private void Reset()
        {
            _turns.Clear();
            if (!string.IsNullOrWhiteSpace(system)) _turns.Add(new ChatTurn("system", system));
        }

        private void Turn(string text)
        {
            _turns.Add(new ChatTurn("user", text));
            string prompt;
            try { prompt = template.Render(_turns); }
            catch (ChatTemplateRenderException e)
            {
                // The template refuses this conversation (e.g. roles must alternate): say why and keep the rest.
                _turns.RemoveAt(_turns.Count - 1);
                context.Error.WriteLine("error: " + e.Message);
                return;
            }
            int promptTokens = tokenizer.Encode(prompt, options.AddBos).Length;
            if (promptTokens + 1 >= maxPositions)
            {
                _turns.RemoveAt(_turns.Count - 1);
                context.Error.WriteLine($"error: the conversation is {promptTokens} tokens; the model takes at most {maxPositions} positions. /reset to start over.");
                return;
            }
            // A decoder per turn: its cache fits this prompt and budget, not the model's whole context.
            using var decoder = createDecoder(DecodeOptions.MaxLength(plan, promptTokens, options.MaxNewTokens, maxPositions));
            bool started = !template.TrimReplyStart;
            var result = new TextDecoder(decoder, tokenizer).Generate(prompt, options, piece =>
            {
                if (!started) { piece = piece.TrimStart(); started = piece.Length > 0; }
                context.Output.Write(piece);
                context.Output.Flush();
            });
            context.Output.WriteLine();
            context.Output.Flush();
            _turns.Add(new ChatTurn("assistant", template.TrimReplyStart ? result.Text.Trim() : result.Text));
            context.Error.WriteLine($"{RunCommand.Summary(plan.Name, result)}, prompt {promptTokens} tokens");
        }
    }
}
