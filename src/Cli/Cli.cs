using System.CommandLine;
using Pardec.Cli.Commands;
using Pardec.Runtime.Loading;
using Spectre.Console;

namespace Pardec.Cli;

/// <summary>
/// The <c>pardec</c> command line: run, check, list, bench, trace and tree-shape. <see cref="Run"/> is the whole program, with
/// its writers passed in so tests drive it in-process exactly as the executable does.
/// </summary>
public static class Cli
{
    public const int Success = 0;
    /// <summary>The user's input is wrong: unknown name, bad value, missing model, a .pdec with errors.</summary>
    public const int Failure = 1;

    public static int Run(string[] args, TextWriter output, TextWriter error) => Run(args, global::System.Console.In, output, error);

    /// <param name="input">What interactive commands (chat) read: standard input, or a test's script.</param>
    public static int Run(string[] args, TextReader input, TextWriter output, TextWriter error)
    {
        var context = new CliContext(output, error, input);
        var root = new RootCommand("Parallel decoding for language models: run, check, list, benchmark and trace .pdec strategies, and fit tree shapes.");
        root.Subcommands.Add(RunCommand.Create(context));
        root.Subcommands.Add(CheckCommand.Create(context));
        root.Subcommands.Add(ListCommand.Create(context));
        root.Subcommands.Add(BenchCommand.Create(context));
        root.Subcommands.Add(TraceCommand.Create(context));
        root.Subcommands.Add(TreeShapeCommand.Create(context));
        root.Subcommands.Add(ChatCommand.Create(context));
        root.Subcommands.Add(InspectCommand.Create(context));
        root.Subcommands.Add(ServeCommand.Create(context));
        var parse = root.Parse(args);
        return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
    }

    /// <summary>Runs a command body; user-facing failures become one line on stderr and exit code 1.</summary>
    internal static int Guard(CliContext context, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (Describe(e) is string message)
        {
            context.Error.WriteLine("error: " + message);
            return Failure;
        }
    }

    // The exceptions a user causes and can fix; anything else is a bug and keeps its stack trace.
    private static string? Describe(Exception e) => e switch
    {
        CliException or ModelLoadException or Runtime.Chat.ChatTemplateException or ArgumentException or NotSupportedException or FormatException => e.Message,
        FileNotFoundException f => $"file not found: {f.FileName ?? f.Message}",
        DirectoryNotFoundException or UnauthorizedAccessException => e.Message,
        TypeInitializationException { InnerException: { } inner } => Describe(inner),
        _ => null,
    };
}

/// <summary>Where a command writes: plain writers for text, and a Spectre console over the output writer for tables.</summary>
public sealed class CliContext
{
    public CliContext(TextWriter output, TextWriter error, TextReader? input = null)
    {
        Output = output;
        Error = error;
        Input = input ?? global::System.Console.In;
        bool terminal = ReferenceEquals(output, global::System.Console.Out) && !global::System.Console.IsOutputRedirected;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!terminal) Console.Profile.Width = 200; // tables written to files or pipes are not cut at 80 columns
    }

    public TextWriter Output { get; }
    public TextWriter Error { get; }
    public TextReader Input { get; }
    public IAnsiConsole Console { get; }
}
