using System.Text.RegularExpressions;
using Xunit;

namespace Pardec.Cli.Tests;

/// <summary><c>pardec run --regex / --json-schema / --grammar</c> on the shipped English target.</summary>
public sealed class ConstrainedRunTests
{
    private static string Target => Path.Combine(ListAndCheckTests.RepoRoot(), "models", "english", "target");

    [Fact]
    public void Run_with_a_regex_writes_text_that_matches_it()
    {
        var r = CliDriver.Run("run", "Greedy", "--model", Target, "--prompt", "And God said", "--max-tokens", "40", "--threads", "1",
            "--regex", "(Yes|No), because [a-z]+( [a-z]+){2,6}\\.");
        Assert.True(r.ExitCode == 0, r.ToString());
        string generated = r.Out.Split('\n')[0]["And God said".Length..];
        Assert.Matches(new Regex("^(Yes|No), because [a-z]+( [a-z]+){2,6}\\.$"), generated);
        Assert.Contains("end of sequence", r.Out);
    }

    [Fact]
    public void Run_with_a_json_schema_writes_json_and_a_grammar_file_is_read()
    {
        string dir = Directory.CreateTempSubdirectory("pardec-constrain-").FullName;
        string schema = Path.Combine(dir, "answer.json"), grammar = Path.Combine(dir, "answer.gbnf");
        File.WriteAllText(schema, """{"type":"object","properties":{"answer":{"enum":["yes","no"]}},"required":["answer"]}""");
        File.WriteAllText(grammar, "root ::= (\"Yes\" | \"No\") \".\"\n");
        var json = CliDriver.Run("run", "Greedy", "--model", Target, "--prompt", "Q", "--max-tokens", "30", "--threads", "1", "--json-schema", schema);
        Assert.True(json.ExitCode == 0, json.ToString());
        Assert.Matches(new Regex("^Q\\{ ?\"answer\" ?: ?\"(yes|no)\" ?\\}$"), json.Out.Split('\n')[0]);
        var gbnf = CliDriver.Run("run", "Greedy", "--model", Target, "--prompt", "Q", "--max-tokens", "30", "--threads", "1", "--grammar", grammar);
        Assert.True(gbnf.ExitCode == 0, gbnf.ToString());
        Assert.Matches(new Regex("^Q(Yes|No)\\.$"), gbnf.Out.Split('\n')[0]);
    }

    [Fact]
    public void A_broken_constraint_is_one_error_line_with_its_position()
    {
        string grammar = Path.Combine(Directory.CreateTempSubdirectory("pardec-constrain-").FullName, "bad.gbnf");
        File.WriteAllText(grammar, "root ::= item\nitem ::= item \")\" | \"x\"\n");
        var r = CliDriver.Run("run", "Greedy", "--model", Target, "--grammar", grammar);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains($"{grammar}(2,1): GBNF grammar: the rule 'item' is left-recursive", r.Err);
        var regex = CliDriver.Run("run", "Greedy", "--model", Target, "--regex", "a(b");
        Assert.Contains("--regex: regex, line 1, column 2: missing ')'", regex.Err);
        var both = CliDriver.Run("run", "Greedy", "--model", Target, "--regex", "a", "--grammar", grammar);
        Assert.Contains("give at most one", both.Err);
    }
}
