using System.Diagnostics;
using System.Text.RegularExpressions;
using Pardec.Cli.Commands;
using Pardec.Cli.Models;
using Pardec.Runtime.Chat;
using Pardec.Runtime.Decoding;
using static TorchSharp.torch;

namespace Pardec.Cli.Tests;

/// <summary><c>pardec chat</c> driven through piped input: turns, kept history, the model's template, /exit.</summary>
public sealed class ChatCommandTests
{
    private const string ChatMl =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    /// <summary>The tiny target model, plus a tokenizer_config.json carrying <paramref name="template"/>.</summary>
    private static string ModelWithTemplate(string template)
    {
        string dir = TinyModelTree.NewTempDirectory();
        foreach (var file in Directory.GetFiles(TinyModelTree.Target)) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["bos_token"] = "<s>", ["eos_token"] = "</s>", ["chat_template"] = template,
        }));
        return dir;
    }

    private static CliResult Chat(string input, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = Cli.Run(["chat", .. args, "--models", TinyModelTree.Root, "--max-tokens", "8"], new StringReader(input), output, error);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    private static string[] PromptSizes(CliResult r) =>
        Regex.Matches(r.Err, @"prompt (\d+) tokens").Select(m => m.Groups[1].Value).ToArray();

    /// <summary>The replies the command must print: the same strategy, template and options, turn by turn, with the
    /// history of the earlier replies.</summary>
    private static (string Text, int PromptTokens)[] Reference(string modelDir, params string[] userTurns)
    {
        var resolved = StrategyCatalog.FindInLibrary(ChatCommand.DefaultStrategy);
        using var binding = new ModelBinding(new ModelPaths(TinyModelTree.Root, Model: modelDir), CPU, ScalarType.Float32);
        var models = binding.Bind(resolved.Plan);
        var template = ModelChatTemplate.FromDirectory(modelDir) ?? ModelChatTemplate.PlainText;
        var options = template.ForReply(new GenerationOptions { MaxNewTokens = 8 }, models.Tokenizer);
        var turns = new List<ChatTurn>();
        var replies = new List<(string, int)>();
        foreach (string user in userTurns)
        {
            turns.Add(new ChatTurn("user", user));
            string prompt = template.Render(turns);
            int promptTokens = models.Tokenizer.Encode(prompt, options.AddBos).Length;
            using var decoder = DecodeOptions.CreateDecoder(resolved, null, models.Set, new Dictionary<string, string>(),
                DecodeOptions.MaxLength(resolved.Plan, promptTokens, 8, models.Main.Config.MaxPositionEmbeddings), TextWriter.Null);
            string reply = new TextDecoder(decoder, models.Tokenizer).Generate(prompt, options).Text;
            // Plain text: the reply is printed from its first non-space character and kept in the history trimmed.
            turns.Add(new ChatTurn("assistant", template.TrimReplyStart ? reply.Trim() : reply));
            replies.Add((template.TrimReplyStart ? reply.TrimStart() : reply, promptTokens));
        }
        return replies.ToArray();
    }

    [Fact]
    public void Each_line_is_a_turn_rendered_with_the_models_template_and_the_history_is_kept()
    {
        string model = ModelWithTemplate(ChatMl);
        var r = Chat("In the beginning\n\nAnd God said\n/exit\nnever read\n", "--model", model);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("chat template from " + Path.Combine(model, "tokenizer_config.json"), r.Err);

        var expected = Reference(model, "In the beginning", "And God said");
        Assert.Equal(string.Concat(expected.Select(e => e.Text + "\n")), r.Out);
        Assert.Equal(expected.Select(e => e.PromptTokens.ToString()).ToArray(), PromptSizes(r));
        // The second prompt holds the first turn and its reply: strictly longer than the first.
        Assert.True(expected[1].PromptTokens > expected[0].PromptTokens + 5);
    }

    [Fact]
    public void A_model_without_a_template_chats_in_plain_text()
    {
        var r = Chat("In the beginning\n", "--model", TinyModelTree.Target);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("no chat template (plain text)", r.Err);
        var expected = Reference(TinyModelTree.Target, "In the beginning");
        Assert.Equal(expected[0].Text + "\n", r.Out);
        Assert.Single(PromptSizes(r));
    }

    [Fact]
    public void Reset_forgets_the_conversation()
    {
        string model = ModelWithTemplate(ChatMl);
        var r = Chat("In the beginning\n/reset\nIn the beginning\n", "--model", model);
        Assert.True(r.ExitCode == 0, r.ToString());
        var sizes = PromptSizes(r);
        Assert.Equal(2, sizes.Length);
        Assert.Equal(sizes[0], sizes[1]);
        Assert.Contains("(conversation cleared)", r.Err);
    }

    [Fact]
    public void A_turn_the_template_refuses_is_reported_and_the_chat_goes_on()
    {
        string model = ModelWithTemplate("{% for m in messages %}{% if m.content == 'forbidden' %}{{ raise_exception('That word is not allowed.') }}{% endif %}"
                                         + "{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:");
        var r = Chat("forbidden\nIn the beginning\n", "--model", model);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("That word is not allowed.", r.Err);
        Assert.Single(PromptSizes(r));
    }

    [Fact]
    public void A_broken_template_fails_before_chatting_naming_the_file_and_position()
    {
        string model = ModelWithTemplate("{% for m in messages %}\n{{ m.content }");
        var r = Chat("hello\n", "--model", model);
        Assert.Equal(Cli.Failure, r.ExitCode);
        Assert.Contains($"error: {Path.Combine(model, "tokenizer_config.json")}(2,", r.Err);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void With_a_draft_the_default_strategy_is_speculative_and_replies_equal_greedy()
    {
        string model = ModelWithTemplate(ChatMl);
        var greedy = Chat("In the beginning\n", "--model", model);
        var speculative = Chat("In the beginning\n", "--model", model, "--draft", Path.Combine(TinyModelTree.Root, "english", "draft"));
        Assert.True(speculative.ExitCode == 0, speculative.ToString());
        Assert.Contains(ChatCommand.DefaultDraftStrategy, speculative.Err);
        Assert.Equal(greedy.Out, speculative.Out);
    }

    [Fact]
    public async Task The_executable_reads_piped_standard_input()
    {
        string model = ModelWithTemplate(ChatMl);
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (string a in new[] { CliDriver.PardecDll, "chat", "--model", model, "--models", TinyModelTree.Root, "--max-tokens", "8" })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteLineAsync("In the beginning");
        await process.StandardInput.WriteLineAsync("And God said");
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(timeout.Token);
        var r = new CliResult(process.ExitCode, await stdout, await stderr);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(2, PromptSizes(r).Length);
        // Exactly the replies: no "> " prompt marker when input is piped.
        var expected = Reference(model, "In the beginning", "And God said");
        Assert.Equal(string.Concat(expected.Select(e => e.Text + "\n")), r.Out.Replace("\r\n", "\n"));
    }
}
