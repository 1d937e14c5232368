using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Pardec.Cli.Bench;

/// <summary>Writes a bench run as results.json, results.md and speedup.svg (a self-contained grouped bar chart).</summary>
public static class BenchReport
{
    public static void Write(string directory, IReadOnlyList<BenchRow> rows, object settings)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "results.json"),
            JsonSerializer.Serialize(new { settings, results = rows }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
        File.WriteAllText(Path.Combine(directory, "results.md"), Markdown(rows, settings));
        File.WriteAllText(Path.Combine(directory, "speedup.svg"), Svg(rows));
    }

    public static string Identical(BenchRow r) => r.Skipped is not null ? "-" : r.IdenticalToAr switch { true => "yes", false => "NO", null => "n/a" };

    public static string Markdown(IReadOnlyList<BenchRow> rows, object settings)
    {
        var b = new StringBuilder();
        b.Append("# pardec bench\n\n`").Append(JsonSerializer.Serialize(settings)).Append("`\n\n");
        b.Append("| task | strategy | guarantee | speedup over AR | mean accepted/step | tok/s | tokens | target fwd | draft fwd | identical to AR |\n");
        b.Append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
        foreach (var r in rows)
        {
            if (r.Skipped is not null) { b.Append($"| {r.Task} | {r.Strategy} | {r.Guarantee} | skipped: {r.Skipped} | | | | | | |\n"); continue; }
            b.Append(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Task} | {r.Strategy} | {r.Guarantee} | {r.Speedup:F2}× | {r.MeanAcceptedPerStep:F2} | {r.TokensPerSecond:F1} | {r.Tokens} | {r.TargetForwards} | {r.DraftForwards} | {Identical(r)} |\n"));
        }
        b.Append("\nSpeedup = strategy tokens/s ÷ Greedy (AR) tokens/s on the same prompts, same process. Identical = same token ids as AR (lossless strategies only).\n");
        return b.ToString();
    }

    public static string Svg(IReadOnlyList<BenchRow> rows)
    {
        var ran = rows.Where(r => r.Skipped is null).ToList();
        var strategies = ran.Select(r => r.Strategy).Distinct().ToList();
        var tasks = ran.Select(r => r.Task).Distinct().ToList();
        const int Left = 170, BarHeight = 12, Gap = 10, Width = 720;
        double max = Math.Max(1.0, ran.Select(r => r.Speedup).DefaultIfEmpty(1).Max()) * 1.1;
        int groupHeight = tasks.Count * BarHeight + Gap;
        int height = 40 + strategies.Count * groupHeight + 30;
        string[] colours = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2"];
        var b = new StringBuilder();
        string X(double v) => (Left + v / max * (Width - Left - 60)).ToString("F1", CultureInfo.InvariantCulture);
        b.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{height}\" viewBox=\"0 0 {Width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n");
        b.Append("<title>Speedup over autoregressive decoding, per strategy and task</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        b.Append("<text x=\"10\" y=\"18\" font-size=\"14\">Speedup over AR (Greedy), tokens/s ratio</text>\n");
        for (int t = 0; t < tasks.Count; t++)
            b.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left + t * 90}\" y=\"26\" width=\"10\" height=\"10\" fill=\"{colours[t % colours.Length]}\"/><text x=\"{Left + t * 90 + 14}\" y=\"35\">{E(tasks[t])}</text>\n");
        b.Append($"<line x1=\"{X(1)}\" y1=\"40\" x2=\"{X(1)}\" y2=\"{height - 25}\" stroke=\"#999\" stroke-dasharray=\"3,3\"/><text x=\"{X(1)}\" y=\"{height - 12}\" text-anchor=\"middle\">1×</text>\n");
        for (int s = 0; s < strategies.Count; s++)
        {
            int y0 = 44 + s * groupHeight;
            b.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{y0 + tasks.Count * BarHeight / 2 + 4}\" text-anchor=\"end\">{E(strategies[s])}</text>\n");
            for (int t = 0; t < tasks.Count; t++)
            {
                var r = ran.FirstOrDefault(x => x.Strategy == strategies[s] && x.Task == tasks[t]);
                if (r is null) continue;
                int y = y0 + t * BarHeight;
                b.Append(CultureInfo.InvariantCulture,
                    $"<rect class=\"bar\" x=\"{Left}\" y=\"{y}\" width=\"{(double.Parse(X(r.Speedup), CultureInfo.InvariantCulture) - Left):F1}\" height=\"{BarHeight - 2}\" fill=\"{colours[t % colours.Length]}\"><title>{E(r.Strategy)} on {E(r.Task)}: {r.Speedup:F2}×</title></rect>");
                b.Append(CultureInfo.InvariantCulture, $"<text x=\"{double.Parse(X(r.Speedup), CultureInfo.InvariantCulture) + 3:F1}\" y=\"{y + BarHeight - 3}\" font-size=\"9\">{r.Speedup:F2}×</text>\n");
            }
        }
        b.Append("</svg>\n");
        return b.ToString();
    }

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
