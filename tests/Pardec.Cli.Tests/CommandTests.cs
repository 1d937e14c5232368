using System.Text.Json;
using System.Text.RegularExpressions;
using Pardec.Strategies;

namespace Pardec.Cli.Tests;

public sealed class ListAndCheckTests
{
    [Fact]
    public void List_shows_every_library_strategy_with_its_guarantee_parameters_and_roles()
    {
        var r = CliDriver.Run("list");
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (var s in GeneratedStrategies.All) Assert.Contains(s.Name, r.Out);
        Assert.Contains("gamma: int = 4 in 1..16", r.Out);
        Assert.Contains("temperature: float = 1.0 in (0.0, 2.0] *", r.Out);
        Assert.Contains("heads: medusa(target, 4)", r.Out);
        Assert.Contains("lossless", r.Out);
    }

    [Fact]
    public void Check_passes_the_whole_library_and_prints_a_summary()
    {
        var files = Directory.GetFiles(Path.Combine(RepoRoot(), "strategies"), "*.pdec");
        var r = CliDriver.Run(["check", .. files]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Matches(@$"{files.Length} file\(s\), \d+ strategies compiled: 0 error\(s\)", r.Out);
    }

    [Fact]
    public void Check_prints_errors_as_the_build_does_and_fails()
    {
        string path = Path.Combine(TinyModelTree.NewTempDirectory(), "bad.pdec");
        File.WriteAllText(path, BadStrategy);
        var r = CliDriver.Run("check", path);
        Assert.Equal(1, r.ExitCode);
        Assert.Matches(new Regex("^" + Regex.Escape(path) + @"\(5,\d+\): error PDEC\d{4}: .+$", RegexOptions.Multiline), r.Err);
        Assert.Contains("1 error(s)", r.Out);
    }

    [Fact]
    public void Check_of_a_missing_file_is_one_line_on_stderr()
    {
        var r = CliDriver.Run("check", "/no/such/file.pdec");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("error: file not found: /no/such/file.pdec", r.Err.Trim());
    }

    public const string BadStrategy = """
        strategy Bad
          guarantee lossless
          canvas causal
          model target: causal
          param gamma: int = 40 in 1..16
          step
            verify target
            accept greedy
        end
        """;

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }
}

public sealed class RunTests
{
    private static readonly string[] Tiny = ["--prompt", "And God said", "--max-tokens", "12"];

    [Fact]
    public void Run_streams_text_and_ends_with_a_summary_line()
    {
        var r = CliDriver.RunTiny(["run", "Greedy", .. Tiny]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.StartsWith("And God said", r.Out);
        Assert.Matches(@"\[Greedy\] \d+ tokens, [\d.]+ tok/s, [\d.]+ accepted/step, \d+ target forwards, 0 draft forwards", r.Out);
    }

    [Fact]
    public void The_summary_names_the_dtype_auto_chose_or_the_one_asked_for()
    {
        // The tiny models are far below AutoDType.SmallModelBytes, so auto keeps them in f32 on any CPU.
        Assert.Contains("(max tokens, f32)", CliDriver.RunTiny(["run", "Greedy", .. Tiny]).Out);
        var bf16 = CliDriver.RunTiny(["run", "Greedy", "--dtype", "bf16", .. Tiny]);
        Assert.True(bf16.ExitCode == 0, bf16.ToString());
        Assert.Contains("(max tokens, bf16)", bf16.Out);
        var bad = CliDriver.RunTiny(["run", "Greedy", "--dtype", "f8", .. Tiny]);
        Assert.Contains("--dtype f8: expected auto, f32, bf16, int8, int4", bad.Err);
    }

    [Fact]
    public void Lossless_strategies_print_the_same_text_as_greedy_with_draft_and_heads_roles_bound()
    {
        string Text(CliResult r) => r.Out[..r.Out.LastIndexOf('[')];
        var greedy = CliDriver.RunTiny(["run", "Greedy", .. Tiny]);
        foreach (string strategy in new[] { "SpeculativeGreedy", "PromptLookup", "Blockwise", "Lookahead" })
        {
            var r = CliDriver.RunTiny(["run", strategy, .. Tiny]);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal(Text(greedy), Text(r));
        }
        var speculative = CliDriver.RunTiny(["run", "SpeculativeGreedy", .. Tiny]);
        Assert.Matches(@"[1-9]\d* draft forwards", speculative.Out);
    }

    [Fact]
    public void Overriding_a_build_time_parameter_falls_back_to_the_interpreter_and_says_so()
    {
        var r = CliDriver.RunTiny(["run", "SpeculativeGreedy", "--param", "gamma=2", .. Tiny]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("'gamma' of SpeculativeGreedy is fixed at build time", r.Err);
        Assert.Contains("interpreter", r.Err);
    }

    [Fact]
    public void A_pdec_file_runs_interpreted_and_sampling_is_reproducible_by_seed()
    {
        string path = Path.Combine(TinyModelTree.NewTempDirectory(), "mine.pdec");
        File.WriteAllText(path, """
            strategy MyLookup
              guarantee lossless
              canvas causal
              model target: causal
              step
                propose lookup(max_ngram: 2, length: 4)
                verify target
                accept greedy
            end
            """);
        var a = CliDriver.RunTiny(["run", path, "--temperature", "0.8", "--seed", "7", .. Tiny]);
        var b = CliDriver.RunTiny(["run", path, "--temperature", "0.8", "--seed", "7", .. Tiny]);
        Assert.True(a.ExitCode == 0, a.ToString());
        Assert.Contains("[MyLookup]", a.Out);
        Assert.Equal(a.Out[..a.Out.LastIndexOf('[')], b.Out[..b.Out.LastIndexOf('[')]);
    }

    [Theory]
    [InlineData("Speculitive", "unknown strategy 'Speculitive'; did you mean 'Speculative")]
    [InlineData("Gredy", "unknown strategy 'Gredy'; did you mean 'Greedy'?")]
    public void An_unknown_strategy_suggests_the_nearest_name(string name, string message)
    {
        var r = CliDriver.RunTiny("run", name);
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error: " + message, r.Err);
        AssertOneLine(r);
    }

    [Theory]
    [InlineData("nope=3", "has no parameter 'nope'")]
    [InlineData("gamma=99", "'gamma' = 99 is outside its range 1..16")]
    [InlineData("gamma=abc", "'gamma' is an int; 'abc' is not")]
    [InlineData("gamma", "expected name=value")]
    public void A_bad_parameter_is_one_clear_error(string assignment, string message)
    {
        var r = CliDriver.RunTiny(["run", "SpeculativeGreedy", "--param", assignment, .. Tiny]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(message, r.Err);
        AssertOneLine(r);
    }

    [Fact]
    public void A_missing_model_directory_names_the_role_and_the_option()
    {
        var r = CliDriver.RunTiny(["run", "SpeculativeGreedy", "--draft", "/no/such/draft", .. Tiny]);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("error: model directory not found for role 'draft': /no/such/draft (pass --draft DIR)", r.Err.Trim());
    }

    [Fact]
    public void A_corrupt_model_is_a_load_error_naming_the_file()
    {
        string dir = TinyModelTree.NewTempDirectory();
        foreach (var f in Directory.GetFiles(TinyModelTree.Target)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var r = CliDriver.RunTiny(["run", "Greedy", "--model", dir, .. Tiny]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("model.safetensors", r.Err);
        AssertOneLine(r);
    }

    [Fact]
    public void A_pdec_file_with_errors_prints_its_diagnostics_and_fails_before_loading_models()
    {
        string path = Path.Combine(TinyModelTree.NewTempDirectory(), "bad.pdec");
        File.WriteAllText(path, ListAndCheckTests.BadStrategy);
        var r = CliDriver.Run("run", path, "--model", "/no/such/model");
        Assert.Equal(1, r.ExitCode);
        Assert.Matches(@"bad\.pdec\(5,\d+\): error PDEC\d{4}: ", r.Err);
        Assert.Contains("has 1 error(s)", r.Err);
        Assert.DoesNotContain("/no/such/model", r.Err);
    }

    [Fact]
    public void Bad_sampling_options_are_rejected_with_the_option_name()
    {
        var r = CliDriver.RunTiny(["run", "Greedy", "--top-p", "1.5", .. Tiny]);
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error: --top-p 1.5", r.Err);
    }

    private static void AssertOneLine(CliResult r)
    {
        Assert.DoesNotContain("   at ", r.Err);
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}

public sealed class BenchAndTraceTests
{
    [Fact]
    public void Bench_compares_strategies_with_AR_and_writes_json_markdown_and_svg()
    {
        string outDir = TinyModelTree.NewTempDirectory();
        var r = CliDriver.RunTiny("bench", "--strategies", "SpeculativeGreedy,PromptLookup,MedusaTypical,FastDllmThreshold", "--tasks", "english,copy,code",
                                  "--prompts", "1", "--max-tokens", "8", "--out", outDir);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
        var rows = json.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(3 * 5, rows.Count); // Greedy + four strategies, per task
        foreach (var row in rows.Where(x => x.GetProperty("strategy").GetString() is "SpeculativeGreedy" or "PromptLookup"))
        {
            Assert.True(row.GetProperty("identicalToAr").GetBoolean());
            Assert.True(row.GetProperty("speedup").GetDouble() > 0);
        }
        Assert.All(rows.Where(x => x.GetProperty("strategy").GetString() == "Greedy"), x => Assert.Equal(1.0, x.GetProperty("speedup").GetDouble()));
        Assert.All(rows.Where(x => x.GetProperty("strategy").GetString() == "MedusaTypical"), x => Assert.Equal(JsonValueKind.Null, x.GetProperty("identicalToAr").ValueKind));
        Assert.All(rows.Where(x => x.GetProperty("strategy").GetString() == "FastDllmThreshold"),
                   x => Assert.Contains("diffusion", x.GetProperty("skipped").GetString()));
        string md = File.ReadAllText(Path.Combine(outDir, "results.md"));
        Assert.Contains("| english | SpeculativeGreedy | lossless |", md);
        string svg = File.ReadAllText(Path.Combine(outDir, "speedup.svg"));
        Assert.StartsWith("<svg", svg);
        Assert.Equal(3 * 4, Regex.Matches(svg, "class=\"bar\"").Count);
        Assert.Contains("Identical to AR", r.Out);
    }

    [Fact]
    public void An_unknown_bench_task_is_one_error()
    {
        var r = CliDriver.RunTiny("bench", "--tasks", "poetry");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("unknown task 'poetry'; the tasks are english, copy, code", r.Err);
    }

    [Fact]
    public void Trace_writes_a_self_contained_page_with_each_step_and_its_tree()
    {
        string path = Path.Combine(TinyModelTree.NewTempDirectory(), "trace.html");
        var r = CliDriver.RunTiny("trace", "--strategy", "Lookahead", "--prompt", "And God said", "--max-tokens", "10", "--out", path);
        Assert.True(r.ExitCode == 0, r.ToString());
        string html = File.ReadAllText(path);
        Assert.Contains("<svg class=\"tree\"", html);
        Assert.Contains("class=\"step\" id=\"step-", html);
        Assert.Contains("class=\"cand rejected\"", html);
        Assert.DoesNotMatch(@"(src|href)=""(https?:)?//", html); // no external assets
        Assert.True(Regex.Matches(html, "<span class=\"tok\"").Count >= 1);
    }

    [FactWhen("chromium")]
    public void The_trace_page_renders_in_headless_chromium_and_its_script_builds_the_legend()
    {
        string path = Path.Combine(TinyModelTree.NewTempDirectory(), "trace.html");
        var r = CliDriver.RunTiny("trace", "--strategy", "SpeculativeGreedy", "--prompt", "And God said", "--max-tokens", "10", "--out", path);
        Assert.True(r.ExitCode == 0, r.ToString());
        string dom = Chromium.DumpDom(path);
        Assert.Contains("id=\"trace-ready\"", dom);         // added by the page's script
        Assert.Contains("class=\"legend-step\"", dom);     // one per step, added by the script
        Assert.Matches("<svg class=\"tree\"", dom);
        Assert.Matches(@"id=""step-\d+""", dom);
    }
}

public sealed class ProcessTests
{
    [Fact]
    public void The_executable_reports_errors_on_stderr_with_exit_code_1()
    {
        var r = CliDriver.Process("run", "Gredy");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("did you mean 'Greedy'?", r.Err);
        Assert.DoesNotContain("   at ", r.Err);
    }

    [Fact]
    public void The_executable_runs_a_strategy_on_a_model_directory()
    {
        var r = CliDriver.Process("run", "PromptLookup", "--models", TinyModelTree.Root, "--prompt", "In the beginning", "--max-tokens", "6");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("[PromptLookup]", r.Out);
    }

    [FactWhen("default-model")]
    public void The_shipped_default_model_runs_without_any_model_option()
    {
        var r = CliDriver.Process("run", "SpeculativeGreedy", "--prompt", "And God said", "--max-tokens", "16");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Matches(@"\[SpeculativeGreedy\] \d+ tokens", r.Out);
    }
}
