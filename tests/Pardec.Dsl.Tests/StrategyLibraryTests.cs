using Pardec.Dsl.Diagnostics;

namespace Pardec.Dsl.Tests;

public class StrategyLibraryTests
{
    public static string RepoRoot
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Dsl.sln")))
            {
                directory = directory.Parent;
            }

            return directory?.FullName ?? throw new InvalidOperationException("Dsl.sln not found above " + AppContext.BaseDirectory);
        }
    }

    public static IEnumerable<string> StrategyFiles =>
        Directory.GetFiles(Path.Combine(RepoRoot, "strategies"), "*.pdec").OrderBy(f => f, StringComparer.Ordinal);

    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (string file in StrategyFiles)
        {
            data.Add(Path.GetFileName(file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Every_library_strategy_compiles_without_diagnostics(string file)
    {
        string text = File.ReadAllText(Path.Combine(RepoRoot, "strategies", file));
        CompileResult result = PdecCompiler.Compile(text, file);
        Assert.True(result.Diagnostics.IsEmpty, string.Join("\n", result.Diagnostics));
        Assert.NotEmpty(result.Plans);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Every_library_file_starts_with_its_paper_and_guarantee(string file)
    {
        string[] header = File.ReadLines(Path.Combine(RepoRoot, "strategies", file)).TakeWhile(l => l.StartsWith('#')).ToArray();
        Assert.Contains(header, l => l.Contains("Paper", StringComparison.Ordinal));
        Assert.Contains(header, l => l.Contains("Guarantee:", StringComparison.Ordinal));
    }

    [Fact]
    public void The_library_holds_every_seed_strategy()
    {
        string[] expected =
        {
            "adablock", "autoregressive", "batched_speculative", "credit_decoding", "d2f", "dllm_draft_verify", "early_commit",
            "eot_prediction", "fast_dllm", "fast_dllm_v2", "jacobi", "llada", "local_leap", "lookahead", "medusa", "prompt_lookup",
            "self_speculative", "speculative", "ssd", "staged_speculative", "structured", "tree_speculative",
        };
        Assert.Equal(expected, StrategyFiles.Select(Path.GetFileNameWithoutExtension).ToArray());
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void A_printed_plan_compiles_back_to_the_same_plan(string file)
    {
        CompileResult result = PdecCompiler.Compile(File.ReadAllText(Path.Combine(RepoRoot, "strategies", file)), file);
        foreach (var plan in result.Plans)
        {
            CompileResult again = PdecCompiler.Compile(plan.Print(), "printed.pdec");
            Assert.True(again.Diagnostics.IsEmpty, plan.Print() + "\n" + string.Join("\n", again.Diagnostics));
            // A composed plan prints its engines after it: its own plan comes first, then one per engine.
            Assert.Equal(1 + plan.Engines.Count, again.Plans.Count);
            Assert.Equal(plan, again.Plans[0]);
        }
    }

    /// <summary>Every prefix of every library file: the front end must report, never throw.</summary>
    [Fact]
    public void Every_prefix_of_every_library_file_compiles_without_throwing()
    {
        foreach (string path in StrategyFiles)
        {
            string text = File.ReadAllText(path);
            for (int length = 0; length <= text.Length; length++)
            {
                string prefix = text.Substring(0, length);
                CompileResult result;
                Pardec.Dsl.Syntax.SyntaxTree tree;
                try
                {
                    tree = Pardec.Dsl.Syntax.SyntaxTree.Parse(prefix, Path.GetFileName(path));
                    result = PdecCompiler.Compile(tree);
                }
                catch (Exception e)
                {
                    throw new Xunit.Sdk.XunitException($"{Path.GetFileName(path)} prefix of length {length} threw {e}");
                }

                foreach (Diagnostic diagnostic in result.Diagnostics)
                {
                    Assert.InRange(diagnostic.Span.End, 0, prefix.Length);
                }

                // A strategy cut before its 'end' yields no plan and must say why.
                int strategies = tree.Root.Strategies.Count;
                Assert.True(result.Plans.Count == strategies || result.HasErrors, $"{Path.GetFileName(path)} prefix {length} lost a strategy silently");
            }
        }
    }
}
