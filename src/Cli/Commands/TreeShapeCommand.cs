using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Pardec.Cli.Models;
using Pardec.Dsl.Trees;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Primitives.Proposers;
using Spectre.Console;

namespace Pardec.Cli.Commands;

/// <summary>Where the positions a tree shape is fitted to come from.</summary>
public enum ShapeSource
{
    /// <summary>Teacher forcing over the held-out text itself.</summary>
    Text,
    /// <summary>The target's greedy continuations of held-out prompts: the text greedy decoding verifies against.</summary>
    Greedy,
}

/// <summary>
/// <c>pardec tree-shape</c>: Sequoia's tree construction (Chen et al. 2024) on real models. Measures the draft's
/// per-rank acceptance against the target on held-out text (<see cref="SequoiaTreeBuilder.TargetRankUnderDraft"/>),
/// builds the best static tree for a node budget (<see cref="SequoiaTreeBuilder.Build"/>) and prints it as the
/// <c>shape:</c> argument of a <c>draft_tree</c> proposer, with the accepted tokens per step the DP predicts.
/// </summary>
internal static class TreeShapeCommand
{
    /// <summary>Budgets always tabulated besides the chosen one (verify widths 9, 17, 25, 33 on this CPU's scale).</summary>
    private static readonly int[] ComparedBudgets = [8, 16, 24, 32];

    public static Command Create(CliContext context)
    {
        var target = new Option<string?>("--target", "--model") { Description = "Target model directory; default: models/<task>/target" };
        var draft = new Option<string?>("--draft") { Description = "Draft model directory; default: models/<task>/draft" };
        var task = new Option<string>("--task") { Description = "Model family for the defaults: english or code", DefaultValueFactory = _ => ModelLocator.DefaultTask };
        var text = new Option<string?>("--text") { Description = "Held-out text (documents separated by U+001E lines); default: models/eval/<task>.valid.txt" };
        var source = new Option<ShapeSource>("--source") { Description = "text: teacher forcing over the text; greedy: over the target's greedy continuations of prompts cut from it", DefaultValueFactory = _ => ShapeSource.Greedy };
        var budget = new Option<int>("--budget") { Description = "Candidate nodes in the tree (root excluded)", DefaultValueFactory = _ => 16 };
        var maxDepth = new Option<int>("--max-depth") { Description = "Deepest level of the tree (root excluded)", DefaultValueFactory = _ => 6 };
        var maxRank = new Option<int>("--max-rank") { Description = "Draft ranks measured (top-k); the tree uses no rank beyond", DefaultValueFactory = _ => 8 };
        var positions = new Option<int>("--positions") { Description = "Measure at most this many positions; 0 = the whole text", DefaultValueFactory = _ => 0 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "greedy source: tokens per prompt cut from the text", DefaultValueFactory = _ => 64 };
        var generate = new Option<int>("--generate") { Description = "greedy source: tokens the target generates after each prompt", DefaultValueFactory = _ => 48 };
        var compare = new Option<string[]>("--compare") { Description = "A shape to score beside the fitted one, in .pdec syntax: \"[[0], [1], [0, 0]]\" (repeatable)", Arity = ArgumentArity.ZeroOrMore };
        var decode = new DecodeOptions();
        var command = new Command("tree-shape", "Fit a static draft-tree shape (Sequoia) to measured per-rank acceptance and print it as .pdec shape syntax")
        {
            target, draft, task, text, source, budget, maxDepth, maxRank, positions, promptTokens, generate, compare,
        };
        command.Options.Add(decode.ModelsRoot);
        decode.AddTorchTo(command);
        command.SetAction(parse => Cli.Guard(context, () =>
        {
            int nodes = parse.GetValue(budget), depth = parse.GetValue(maxDepth), ranks = parse.GetValue(maxRank);
            int limit = parse.GetValue(positions), promptLength = parse.GetValue(promptTokens), generated = parse.GetValue(generate);
            if (nodes < 1) throw new CliException($"--budget {nodes}: must be at least 1");
            if (depth < 1) throw new CliException($"--max-depth {depth}: must be at least 1");
            if (ranks < 1) throw new CliException($"--max-rank {ranks}: must be at least 1");
            if (limit < 0) throw new CliException($"--positions {limit}: must be 0 (everything) or more");
            if (promptLength < 2) throw new CliException($"--prompt-tokens {promptLength}: must be at least 2");
            if (generated < 1) throw new CliException($"--generate {generated}: must be at least 1");
            var compared = (parse.GetValue(compare) ?? []).Select(Parse).ToList();
            ranks = Math.Max(ranks, compared.Select(c => c.MaxRank).DefaultIfEmpty(0).Max()); // a replay needs every rank a shape uses
            string family = parse.GetValue(task)!;
            var paths = new ModelPaths(parse.GetValue(decode.ModelsRoot) ?? ModelLocator.DefaultRoot(), family, parse.GetValue(target), parse.GetValue(draft));
            string textPath = parse.GetValue(text) ?? Path.Combine(paths.Root, "eval", $"{family}.valid.txt");
            if (!File.Exists(textPath)) throw new CliException($"text file not found: {textPath} (pass --text FILE)");
            var mode = parse.GetValue(source);
            var (device, dtype) = decode.Torch(parse);

            using var binding = new ModelBinding(paths, device, dtype);
            var targetModel = binding.Load(paths.Target, "target", "--target");
            var draftModel = binding.Load(paths.DraftDir, "draft", "--draft");
            var tokenizer = targetModel.Tokenizer ?? throw new CliException($"the model in {paths.Target} has no tokenizer (expected tokenizer.json, tokenizer.model, or vocab.json + merges.txt)");
            if (draftModel.Model.Config.VocabSize != targetModel.Model.Config.VocabSize)
                throw new CliException($"the draft's vocabulary ({draftModel.Model.Config.VocabSize}) differs from the target's ({targetModel.Model.Config.VocabSize})");
            int window = Math.Min(targetModel.Model.Config.MaxPositionEmbeddings, draftModel.Model.Config.MaxPositionEmbeddings);
            if (mode == ShapeSource.Greedy && promptLength + generated > window)
                throw new CliException($"--prompt-tokens {promptLength} + --generate {generated} exceed the models' {window} positions");

            var documents = File.ReadAllText(textPath).Split('\u001e').Select(d => d.Trim('\n')).Where(d => d.Length > 0)
                .Select(d => tokenizer.Encode(d, addBos: true)).ToList();
            var measured = new List<int>();   // the target's rank under the draft, at every measured position
            var sequences = new List<(int[] Ranks, int FirstRoot)>(); // greedy source: what a replay needs
            int windows = 0;
            using var generator = mode == ShapeSource.Greedy ? new AutoregressiveGenerator(targetModel.Model, tokenizer, promptLength + generated + 1) : null;
            var options = new GenerationOptions { MaxNewTokens = generated, StopOnEos = false };
            foreach (var doc in documents)
            {
                int step = mode == ShapeSource.Text ? window : promptLength;
                for (int start = 0; start < doc.Length && (limit == 0 || measured.Count < limit); start += step)
                {
                    var cut = doc.AsSpan(start, Math.Min(step, doc.Length - start));
                    if (mode == ShapeSource.Text)
                    {
                        if (cut.Length < 2) continue;
                        measured.AddRange(SequoiaTreeBuilder.TargetRankUnderDraft(targetModel.Model, draftModel.Model, cut, ranks));
                    }
                    else
                    {
                        if (cut.Length < promptLength) continue; // a document's short tail: too little context to continue
                        var continuation = generator!.Generate(cut.ToArray(), options).Tokens;
                        int[] sequence = [.. cut, .. continuation];
                        var r = SequoiaTreeBuilder.TargetRankUnderDraft(targetModel.Model, draftModel.Model, sequence, ranks);
                        // Positions from the last prompt token on: their target picks are the generated tokens.
                        measured.AddRange(r.AsSpan(cut.Length - 1));
                        sequences.Add((r, cut.Length - 1));
                    }
                    windows++;
                }
            }
            if (measured.Count == 0) throw new CliException($"{textPath} holds no text long enough to measure (need {(mode == ShapeSource.Text ? 2 : promptLength)} tokens in a document)");
            if (limit > 0 && measured.Count > limit) measured.RemoveRange(limit, measured.Count - limit);

            var p = SequoiaTreeBuilder.AcceptanceByRank(measured.ToArray(), ranks);
            var shape = SequoiaTreeBuilder.Build(p, nodes, depth);
            string how = mode == ShapeSource.Text
                ? $"teacher forcing over {measured.Count} positions in {windows} windows of at most {window} tokens"
                : $"teacher forcing over the target's greedy continuations ({generated} tokens) of {windows} prompts of {promptLength} tokens: {measured.Count} positions";
            context.Output.WriteLine($"target {paths.Target}, draft {paths.DraftDir}");
            context.Output.WriteLine($"text {textPath}: {how}");
            context.Output.WriteLine("p[r] = P(the target's greedy token is the draft's rank-r token) = P(greedy verification accepts a rank-r child)");
            context.Output.WriteLine();
            context.Console.Write(RateTable(p));
            context.Output.WriteLine();
            context.Console.Write(BudgetTable(p, nodes, depth, sequences));
            context.Output.WriteLine();
            double expected = shape.ExpectedAccepted(p);
            context.Output.WriteLine(Invariant($"budget {nodes}, max depth {depth}: {shape.Count - 1} nodes, depth {shape.MaxDepth}, the draft's top-{shape.MaxRank}"));
            context.Output.WriteLine(Invariant($"predicted accepted tokens per step: {expected:F3} (+1 bonus token = {1 + expected:F3} tokens per step)"));
            if (sequences.Count > 0)
            {
                double replayed = Replay(shape, sequences).AcceptedPerStep;
                context.Output.WriteLine(Invariant($"replayed on the greedy continuations: {replayed:F3} accepted tokens per step ({1 + replayed:F3} tokens per step)"));
            }
            foreach (var other in compared)
            {
                string replayed = sequences.Count == 0 ? "" : Invariant($", replayed {Replay(other, sequences).AcceptedPerStep:F3}");
                context.Output.WriteLine(Invariant($"compared {Format(other)}: {other.Count - 1} nodes, depth {other.MaxDepth}, predicted {other.ExpectedAccepted(p):F3}{replayed} accepted per step"));
            }
            context.Output.WriteLine("shape: " + Format(shape));
            return Cli.Success;
        }));
        return command;
    }

    /// <summary>The shape as a <c>draft_tree(shape: ...)</c> argument, in the canonical order the compiler uses.</summary>
    public static string Format(DraftTreeShape shape)
    {
        var paths = new List<IReadOnlyList<int>>();
        var path = new List<int>[shape.Count];
        path[0] = [];
        for (int i = 1; i < shape.Count; i++)
        {
            path[i] = [.. path[shape.Parents[i]], shape.Choices[i]];
            paths.Add(path[i]);
        }
        return TokenTreeShape.Create(paths).ToString();
    }

    /// <summary>Greedy verification of <paramref name="shape"/> replayed over every continuation: tokens, steps, and accepted per step (bonus excluded).</summary>
    private static (int Steps, int Tokens, double AcceptedPerStep) Replay(DraftTreeShape shape, List<(int[] Ranks, int FirstRoot)> sequences)
    {
        int steps = 0, tokens = 0;
        foreach (var (ranks, firstRoot) in sequences)
        {
            var (s, t) = SequoiaTreeBuilder.ReplayGreedy(shape, ranks, firstRoot);
            steps += s;
            tokens += t;
        }
        return (steps, tokens, steps == 0 ? 0 : (tokens - steps) / (double)steps);
    }

    /// <summary>A shape in .pdec syntax, checked by the compiler's own tree rules (prefix-closed, no duplicates).</summary>
    public static DraftTreeShape Parse(string text)
    {
        string body = text.Trim();
        if (!body.StartsWith('[') || !body.EndsWith(']')) throw new CliException($"--compare '{text}': expected a list of paths such as [[0], [1], [0, 0]]");
        var paths = new List<IReadOnlyList<int>>();
        foreach (Match m in Regex.Matches(body[1..^1], @"\[([^\[\]]*)\]"))
        {
            var ranks = m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var path = new List<int>();
            foreach (string r in ranks)
                path.Add(int.TryParse(r, NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : throw new CliException($"--compare: '{r}' is not a rank"));
            paths.Add(path);
        }
        var shape = TokenTreeShape.TryCreate(paths, out var error) ?? throw new CliException($"--compare: {error!.Message}");
        return new DraftTreeShape(shape.Parents.ToArray(), shape.Choices.ToArray());
    }

    private static Table RateTable(double[] p)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("acceptance by draft rank");
        table.AddColumn("rank");
        table.AddColumn(new TableColumn("p[[r]]").RightAligned());
        table.AddColumn(new TableColumn("cumulative").RightAligned());
        double sum = 0;
        for (int r = 0; r < p.Length; r++)
        {
            sum += p[r];
            table.AddRow(r.ToString(CultureInfo.InvariantCulture), Invariant($"{p[r]:F4}"), Invariant($"{sum:F4}"));
        }
        table.AddRow("none", Invariant($"{1 - sum:F4}"), "");
        return table;
    }

    private static Table BudgetTable(double[] p, int chosen, int maxDepth, List<(int[] Ranks, int FirstRoot)> sequences)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Invariant($"the DP's best tree per budget (max depth {maxDepth})"));
        table.AddColumn(new TableColumn("budget").RightAligned());
        table.AddColumn(new TableColumn("nodes").RightAligned());
        table.AddColumn(new TableColumn("depth").RightAligned());
        table.AddColumn(new TableColumn("predicted accepted/step").RightAligned());
        if (sequences.Count > 0) table.AddColumn(new TableColumn("replayed accepted/step").RightAligned());
        foreach (int b in ComparedBudgets.Append(chosen).Distinct().Order())
        {
            var shape = SequoiaTreeBuilder.Build(p, b, maxDepth);
            var row = new List<string>
            {
                b == chosen ? $"[bold]{b}[/]" : b.ToString(CultureInfo.InvariantCulture),
                (shape.Count - 1).ToString(CultureInfo.InvariantCulture),
                shape.MaxDepth.ToString(CultureInfo.InvariantCulture),
                Invariant($"{shape.ExpectedAccepted(p):F3}"),
            };
            if (sequences.Count > 0) row.Add(Invariant($"{Replay(shape, sequences).AcceptedPerStep:F3}"));
            table.AddRow([.. row]);
        }
        return table;
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
