using System.Globalization;
using System.Text.RegularExpressions;
using Pardec.Cli.Commands;
using Pardec.Dsl;
using Pardec.Dsl.Plan;
using PlanDraftTree = Pardec.Dsl.Plan.DraftTreeProposerPlan;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Primitives.Proposers;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Cli.Tests;

public sealed class TreeShapeTests
{
    private const string Text = "And God said, Let there be light: and there was light. And God saw the light, that it was good.\n\u001e\n"
                                + "In the beginning was the Word, and the Word was with God, and the Word was God. The same was in the beginning with God.\n";

    [Fact]
    public void Tree_shape_fits_the_chain_when_the_draft_is_the_target_and_prints_a_shape_the_compiler_accepts()
    {
        string text = Path.Combine(TinyModelTree.NewTempDirectory(), "valid.txt");
        File.WriteAllText(text, Text);
        // The draft is the target itself: every position is a rank-0 hit, so the best tree of any budget is the
        // argmax chain down to the depth limit, and every step accepts all of it.
        var r = CliDriver.RunTiny("tree-shape", "--text", text, "--draft", TinyModelTree.Target, "--budget", "6", "--max-depth", "3",
                                  "--max-rank", "3", "--prompt-tokens", "8", "--generate", "8");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal([1.0, 0.0, 0.0], Rates(r.Out));
        string shape = ShapeLine(r.Out);
        Assert.Equal("[[0], [0, 0], [0, 0, 0]]", shape);
        Assert.Contains("predicted accepted tokens per step: 3.000 (+1 bonus token = 4.000 tokens per step)", r.Out);
        Assert.Contains("replayed on the greedy continuations: 3.000 accepted tokens per step", r.Out); // 8 tokens in 2 steps
        var compiled = PdecCompiler.Compile(Strategy(shape), "fitted.pdec");
        Assert.False(compiled.HasErrors, string.Join("\n", compiled.Diagnostics));
    }

    [Fact]
    public void Tree_shape_predicts_from_the_rates_it_prints_and_scores_a_compared_shape()
    {
        string text = Path.Combine(TinyModelTree.NewTempDirectory(), "valid.txt");
        File.WriteAllText(text, Text);
        var r = CliDriver.RunTiny("tree-shape", "--text", text, "--source", "text", "--draft", NoisyDraft.Value, "--budget", "5", "--max-depth", "2",
                                  "--max-rank", "4", "--compare", "[[0], [1], [0, 0]]");
        Assert.True(r.ExitCode == 0, r.ToString());
        var p = Rates(r.Out);
        Assert.Equal(4, p.Length);
        Assert.True(p[0] > 0 && p[1] > 0, r.Out); // the noisy copy agrees often but not always: the fit has a choice to make
        var fitted = TreeShapeCommand.Parse(ShapeLine(r.Out));
        Assert.True(fitted.Count - 1 <= 5 && fitted.MaxDepth <= 2, ShapeLine(r.Out));
        double predicted = double.Parse(Regex.Match(r.Out, @"predicted accepted tokens per step: ([\d.]+)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(predicted, fitted.ExpectedAccepted(p) - 0.002, fitted.ExpectedAccepted(p) + 0.002); // rates are printed to 4 places
        var compared = Regex.Match(r.Out, @"compared \[\[0\], \[1\], \[0, 0\]\]: 3 nodes, depth 2, predicted ([\d.]+) accepted");
        Assert.True(compared.Success, r.Out);
        double comparedValue = double.Parse(compared.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(comparedValue <= predicted + 1e-9, "a 3-node shape cannot beat the fitted 5-node optimum");
        Assert.DoesNotContain("replayed", r.Out); // teacher forcing on the text has no greedy continuations to replay
    }

    [Fact]
    public void A_bad_compared_shape_is_one_error_naming_the_missing_parent()
    {
        var r = CliDriver.RunTiny("tree-shape", "--compare", "[[0], [1, 1]]");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("error: --compare: path [1, 1] has no parent path [1]", r.Err.Trim());
    }

    [Fact]
    public void The_shipped_SequoiaTree_shape_is_the_dp_optimum_for_the_rates_its_file_records()
    {
        // The file states the command and the rates it measured; the DP half of that reproduction must hold exactly.
        string file = File.ReadAllText(Path.Combine(ListAndCheckTests.RepoRoot(), "strategies", "tree_speculative.pdec"));
        var recorded = Regex.Match(file, @"#\s+p = \[([^\]]+)\]");
        Assert.True(recorded.Success, "tree_speculative.pdec no longer records the measured rates");
        var p = recorded.Groups[1].Value.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var command = Regex.Match(file, @"--budget (\d+) --max-depth (\d+)");
        Assert.True(command.Success, "tree_speculative.pdec no longer records the tree-shape command");
        var plan = PdecCompiler.Compile(file, "tree_speculative.pdec").Plans.Single(s => s.Name == "SequoiaTree");
        var proposer = Assert.IsType<PlanDraftTree>(((CausalStepPlan)plan.Step).Proposers.Single());
        var shipped = new DraftTreeShape(proposer.Tree!.Parents.ToArray(), proposer.Tree.Choices.ToArray());
        var fitted = SequoiaTreeBuilder.Build(p, int.Parse(command.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(command.Groups[2].Value, CultureInfo.InvariantCulture));
        Assert.Equal(TreeShapeCommand.Format(fitted), TreeShapeCommand.Format(shipped));
    }

    // The tiny target with every weight perturbed: a draft that ranks the target's token first often, second sometimes.
    private static readonly Lazy<string> NoisyDraft = new(() =>
    {
        string dir = Path.Combine(TinyModelTree.NewTempDirectory(), "noisy-draft");
        using var model = PretrainedModel.LoadModel(TinyModelTree.Target, CPU);
        using (no_grad())
        {
            var generator = new torch.Generator(5);
            foreach (var (_, parameter) in model.named_parameters())
                parameter.add_(torch.randn(parameter.shape, generator: generator) * 0.02);
        }
        PretrainedModel.Save(model, dir, tokenizerSourceDirectory: TinyModelTree.TokenizerDirectory);
        return dir;
    });

    private static double[] Rates(string output) =>
        Regex.Matches(output, @"^[│|] (\d+)\s+[│|]\s+([\d.]+) [│|]", RegexOptions.Multiline)
            .Select(m => double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)).ToArray();

    private static string ShapeLine(string output)
    {
        var m = Regex.Match(output, @"^shape: (.+)$", RegexOptions.Multiline);
        Assert.True(m.Success, output);
        return m.Groups[1].Value.TrimEnd();
    }

    private static string Strategy(string shape) => $$"""
        strategy Fitted
          guarantee lossless
          canvas causal
          model target: causal
          model draft: causal
          step
            propose draft_tree(draft, shape: {{shape}})
            verify target tree(max_width: 32)
            accept greedy
          stop eos, max_tokens
        end
        """;
}
