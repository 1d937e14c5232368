using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Tokenization;

namespace Pardec.Cli.Trace;

/// <summary>
/// Writes one decode as a self-contained HTML page (inline CSS, SVG and script; no external assets): the output with
/// each token coloured by the step that committed it; per step the proposed candidates against the accepted ones;
/// and the verified token tree drawn as a dependency graph — each candidate an edge from the token it extends, the
/// accepted path highlighted — after the Jacobi/tree figures of Santilli et al. 2023 ("Accelerating Transformer
/// Inference for Translation via Parallel Decoding").
/// </summary>
public static class TraceHtml
{
    public static string Write(string strategy, string planText, string prompt, IReadOnlyList<TraceStep> steps, DecodeResult result, TextTokenizer tokenizer)
    {
        var b = new StringBuilder();
        b.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>pardec trace: ").Append(E(strategy)).Append("</title>\n");
        b.Append("<style>\n").Append(Css).Append("</style>\n</head>\n<body>\n");
        b.Append("<header><h1>").Append(E(strategy)).Append("</h1>\n");
        b.Append("<p id=\"summary\">").Append(E(Commands.RunCommand.Summary(strategy, result))).Append("</p>\n");
        b.Append("<details><summary>Plan</summary><pre id=\"plan\">").Append(E(planText)).Append("</pre></details>\n</header>\n");

        b.Append("<section id=\"output\"><h2>Output</h2>\n<p class=\"text\"><span class=\"prompt\">").Append(E(prompt)).Append("</span>");
        foreach (var s in steps)
        {
            if (s.Text.Length == 0) continue;
            b.Append("<span class=\"tok\" data-step=\"").Append(s.Step).Append("\" style=\"background:").Append(Colour(s.Step))
             .Append("\" title=\"step ").Append(s.Step).Append(": ").Append(s.Committed.Length).Append(" token(s)\">")
             .Append(E(s.Text)).Append("</span>");
        }
        b.Append("</p>\n<div id=\"legend\"></div>\n</section>\n");

        b.Append("<section id=\"steps\"><h2>Steps</h2>\n");
        foreach (var s in steps) AppendStep(b, s, tokenizer);
        b.Append("</section>\n");

        var data = steps.Select(s => new { step = s.Step, committed = s.Committed.Length, proposed = Math.Max(0, s.TreeTokens.Length - 1), colour = Colour(s.Step) });
        b.Append("<script type=\"application/json\" id=\"trace-data\">").Append(JsonSerializer.Serialize(data).Replace("</", "<\\/")).Append("</script>\n");
        b.Append("<script>\n").Append(Script).Append("</script>\n</body>\n</html>\n");
        return b.ToString();
    }

    private static void AppendStep(StringBuilder b, TraceStep s, TextTokenizer tokenizer)
    {
        var accepted = new HashSet<int>(s.AcceptedNodes);
        b.Append("<article class=\"step\" id=\"step-").Append(s.Step).Append("\" data-step=\"").Append(s.Step).Append("\">\n");
        b.Append("<h3><span class=\"swatch\" style=\"background:").Append(Colour(s.Step)).Append("\"></span>Step ").Append(s.Step)
         .Append(": ").Append(Math.Max(0, s.TreeTokens.Length - 1)).Append(" proposed, ").Append(s.Committed.Length).Append(" committed</h3>\n");

        b.Append("<div class=\"candidates\"><span class=\"label\">proposed</span>");
        for (int n = 1; n < s.TreeTokens.Length; n++)
        {
            b.Append("<span class=\"cand ").Append(accepted.Contains(n) ? "accepted" : "rejected").Append("\" data-node=\"").Append(n)
             .Append("\" title=\"node ").Append(n).Append(", parent ").Append(s.TreeParents[n]).Append(", proposer ").Append(Source(s, n)).Append("\">")
             .Append(E(Piece(tokenizer, s.TreeTokens[n]))).Append("</span>");
        }
        if (s.TreeTokens.Length <= 1) b.Append("<span class=\"none\">(nothing proposed)</span>");
        b.Append("</div>\n<div class=\"committed\"><span class=\"label\">committed</span>");
        foreach (int id in s.Committed) b.Append("<span class=\"cand committed-token\">").Append(E(Piece(tokenizer, id))).Append("</span>");
        b.Append("</div>\n");
        if (s.TreeTokens.Length > 0) AppendTree(b, s, accepted, tokenizer);
        b.Append("</article>\n");
    }

    // Depth runs left to right; siblings stack downwards in depth-first order, so every edge goes from a token to one
    // that was verified as its continuation in the same forward pass.
    private static void AppendTree(StringBuilder b, TraceStep s, HashSet<int> accepted, TextTokenizer tokenizer)
    {
        int n = s.TreeTokens.Length;
        var children = Enumerable.Range(0, n).Select(_ => new List<int>()).ToArray();
        for (int i = 1; i < n; i++) if (s.TreeParents[i] >= 0 && s.TreeParents[i] < n) children[s.TreeParents[i]].Add(i);
        var depth = new int[n];
        var row = new int[n];
        int rows = 0;
        void Place(int node, int d)
        {
            depth[node] = d;
            if (children[node].Count == 0) { row[node] = rows++; return; }
            foreach (int c in children[node]) Place(c, d + 1);
            row[node] = row[children[node][0]];
        }
        Place(0, 0);
        const int ColumnWidth = 110, RowHeight = 30, BoxWidth = 96, BoxHeight = 22;
        int width = (depth.Max() + 1) * ColumnWidth + 10, height = Math.Max(1, rows) * RowHeight + 10;
        b.Append("<svg class=\"tree\" xmlns=\"http://www.w3.org/2000/svg\" width=\"").Append(width).Append("\" height=\"").Append(height)
         .Append("\" viewBox=\"0 0 ").Append(width).Append(' ').Append(height).Append("\" role=\"img\" aria-label=\"verified token tree of step ").Append(s.Step).Append("\">\n");
        for (int i = 1; i < n; i++)
        {
            int p = s.TreeParents[i];
            if (p < 0 || p >= n) continue;
            double x1 = 5 + depth[p] * ColumnWidth + BoxWidth, y1 = 5 + row[p] * RowHeight + BoxHeight / 2.0;
            double x2 = 5 + depth[i] * ColumnWidth, y2 = 5 + row[i] * RowHeight + BoxHeight / 2.0;
            bool onPath = accepted.Contains(i) && (p == 0 || accepted.Contains(p));
            b.Append(string.Create(CultureInfo.InvariantCulture,
                $"<path class=\"edge{(onPath ? " accepted" : "")}\" d=\"M{x1:F1},{y1:F1} C{x1 + 8:F1},{y1:F1} {x2 - 8:F1},{y2:F1} {x2:F1},{y2:F1}\"/>\n"));
        }
        for (int i = 0; i < n; i++)
        {
            string cls = i == 0 ? "node root" : accepted.Contains(i) ? "node accepted" : "node rejected";
            int x = 5 + depth[i] * ColumnWidth, y = 5 + row[i] * RowHeight;
            string label = i == 0 ? "▶ " + Piece(tokenizer, s.TreeTokens[0]) : Piece(tokenizer, s.TreeTokens[i]);
            if (label.Length > 12) label = label[..11] + "…";
            b.Append("<g class=\"").Append(cls).Append("\" data-node=\"").Append(i).Append("\"><title>node ").Append(i).Append(", proposer ").Append(Source(s, i))
             .Append("</title><rect x=\"").Append(x).Append("\" y=\"").Append(y).Append("\" width=\"").Append(BoxWidth).Append("\" height=\"").Append(BoxHeight)
             .Append("\" rx=\"4\"/><text x=\"").Append(x + 6).Append("\" y=\"").Append(y + 15).Append("\">").Append(E(label)).Append("</text></g>\n");
        }
        b.Append("</svg>\n");
    }

    private static string Source(TraceStep s, int node) =>
        node < s.TreeSources.Length ? (s.TreeSources[node] < 0 ? "root" : "#" + s.TreeSources[node].ToString(CultureInfo.InvariantCulture)) : "?";

    /// <summary>A token's own text, with whitespace made visible.</summary>
    public static string Piece(TextTokenizer tokenizer, int id)
    {
        if (tokenizer.IsEos(id)) return "⟨eos⟩";
        if (tokenizer.BosId == id) return "⟨bos⟩";
        string text;
        try { text = tokenizer.Decode([id]); }
        catch (ArgumentException) { text = "#" + id.ToString(CultureInfo.InvariantCulture); }
        if (text.Length == 0) return "#" + id.ToString(CultureInfo.InvariantCulture);
        return text.Replace(" ", "·").Replace("\n", "⏎").Replace("\t", "⇥");
    }

    public static string Colour(int step) => string.Create(CultureInfo.InvariantCulture, $"hsl({step * 137.508 % 360:F0},70%,85%)");

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private const string Css = """
        body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
        h1 { margin-bottom: 0.2em; } #summary { color: #555; font-family: ui-monospace, monospace; }
        .text { white-space: pre-wrap; font-family: ui-monospace, monospace; border: 1px solid #ddd; padding: 0.8em; border-radius: 6px; }
        .prompt { color: #888; } .tok { border-radius: 3px; cursor: pointer; } .tok.hl { outline: 2px solid #333; }
        #legend { display: flex; flex-wrap: wrap; gap: 3px; margin: 0.6em 0; } #legend a { display: inline-block; min-width: 1.6em; text-align: center; font-size: 11px; border-radius: 3px; color: #222; text-decoration: none; }
        .step { border-top: 1px solid #eee; padding: 0.4em 0; } .step.hl { background: #fafafa; }
        .swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.4em; border-radius: 2px; vertical-align: middle; }
        .label { display: inline-block; width: 6em; color: #777; font-size: 12px; }
        .cand { display: inline-block; font-family: ui-monospace, monospace; padding: 0 4px; margin: 1px; border-radius: 3px; border: 1px solid #ccc; }
        .cand.accepted { background: #d7f5d7; border-color: #6c6; } .cand.rejected { background: #fbe1e1; border-color: #e99; text-decoration: line-through; }
        .cand.committed-token { background: #e6eefc; border-color: #89b; } .none { color: #999; }
        svg.tree { display: block; margin: 0.4em 0; } .edge { fill: none; stroke: #c99; stroke-width: 1.2; } .edge.accepted { stroke: #393; stroke-width: 2.2; }
        .node rect { fill: #fff; stroke: #c99; } .node.accepted rect { fill: #d7f5d7; stroke: #393; } .node.root rect { fill: #eee; stroke: #666; }
        .node text { font: 12px ui-monospace, monospace; fill: #222; }

        """;

    // Builds the step legend from the embedded data and links output tokens to their steps (both ways).
    private const string Script = """
        (function () {
          var data = JSON.parse(document.getElementById('trace-data').textContent);
          var legend = document.getElementById('legend');
          data.forEach(function (s) {
            var a = document.createElement('a');
            a.href = '#step-' + s.step; a.className = 'legend-step'; a.textContent = s.step;
            a.style.background = s.colour; a.title = 'step ' + s.step + ': ' + s.committed + ' committed of ' + s.proposed + ' proposed';
            legend.appendChild(a);
          });
          function mark(step, on) {
            document.querySelectorAll('[data-step="' + step + '"]').forEach(function (e) { e.classList.toggle('hl', on); });
          }
          document.querySelectorAll('.tok, .step').forEach(function (e) {
            e.addEventListener('mouseenter', function () { mark(e.dataset.step, true); });
            e.addEventListener('mouseleave', function () { mark(e.dataset.step, false); });
          });
          var total = data.reduce(function (n, s) { return n + s.committed; }, 0);
          var note = document.createElement('p');
          note.id = 'trace-ready';
          note.textContent = data.length + ' steps, ' + total + ' tokens committed, ' + (data.length ? (total / data.length).toFixed(2) : '0') + ' per step';
          legend.parentNode.insertBefore(note, legend.nextSibling);
        })();

        """;
}
