using System.CommandLine;
using Pardec.Dsl.Plan;
using Spectre.Console;

namespace Pardec.Cli.Commands;

/// <summary><c>pardec list</c>: the strategy library as a table.</summary>
internal static class ListCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("list", "List the library's strategies: paper, guarantee, parameters and model roles");
        command.SetAction(_ => Cli.Guard(context, () =>
        {
            var table = new Table().Border(TableBorder.Rounded).Title("Pardec strategy library");
            table.AddColumn("Strategy");
            table.AddColumn("Guarantee");
            table.AddColumn("Canvas");
            table.AddColumn("Parameters (* = runtime)");
            table.AddColumn("Models");
            table.AddColumn("Paper");
            foreach (var s in StrategyCatalog.Library.OrderBy(s => s.Plan.Name, StringComparer.Ordinal))
            {
                var p = s.Plan;
                table.AddRow(
                    new Markup("[bold]" + Markup.Escape(p.Name) + "[/]"),
                    new Markup(Guarantee(p.Guarantee)),
                    new Text(p.Canvas.ToString()),
                    new Text(p.Params.Count == 0 ? "-" : string.Join("\n", p.Params.Select(Param))),
                    new Text(string.Join("\n", p.Models.Select(m => m.ToString()))),
                    new Text(p.Paper ?? "-"));
            }
            context.Console.Write(table);
            context.Output.WriteLine($"{StrategyCatalog.Library.Count} strategies. Run one with: pardec run <strategy> --prompt \"...\"");
            return Cli.Success;
        }));
        return command;
    }

    private static string Guarantee(Guarantee g) => g switch
    {
        Dsl.Plan.Guarantee.Lossless => "[green]lossless[/]",
        Dsl.Plan.Guarantee.Distribution => "[blue]distribution[/]",
        _ => "[yellow]none[/]",
    };

    private static string Param(ParamPlan p) =>
        $"{p.Name}: {p.Type.ToString().ToLowerInvariant()} = {p.Default}" + (p.Range is null ? "" : " in " + p.Range.Format(p.Type)) + (p.Runtime ? " *" : "");
}
