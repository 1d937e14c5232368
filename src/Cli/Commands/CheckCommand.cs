using System.CommandLine;
using Pardec.Dsl;
using Pardec.Dsl.Diagnostics;

namespace Pardec.Cli.Commands;

/// <summary><c>pardec check FILE…</c>: the build's diagnostics for .pdec files, and exit code 1 on any error.</summary>
internal static class CheckCommand
{
    public static Command Create(CliContext context)
    {
        var files = new Argument<string[]>("files") { Description = ".pdec files to check", Arity = ArgumentArity.OneOrMore };
        var command = new Command("check", "Compile .pdec files and print their diagnostics as the build does") { files };
        command.SetAction(parse => Cli.Guard(context, () =>
        {
            int errors = 0, warnings = 0, strategies = 0;
            var paths = parse.GetValue(files)!;
            foreach (string path in paths)
            {
                if (!File.Exists(path)) throw new CliException($"file not found: {path}");
                var result = PdecCompiler.Compile(File.ReadAllText(path), path, readFile: StrategyCatalog.ReadFile);
                strategies += result.Plans.Count;
                foreach (var d in result.Diagnostics)
                {
                    (d.Severity == DiagnosticSeverity.Error ? context.Error : context.Output).WriteLine(d.ToString());
                    if (d.Severity == DiagnosticSeverity.Error) errors++;
                    else if (d.Severity == DiagnosticSeverity.Warning) warnings++;
                }
            }
            context.Output.WriteLine($"{paths.Length} file(s), {strategies} strategies compiled: {errors} error(s), {warnings} warning(s)");
            return errors > 0 ? Cli.Failure : Cli.Success;
        }));
        return command;
    }
}
