using Pardec.Dsl.Binding;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Primitives;

namespace Pardec.Dsl.Tests;

/// <summary>
/// The guarantee soundness table: docs/language.md prints exactly what the descriptors (and the catalog's constructs)
/// declare, and the binder refuses exactly what they do not preserve. One test per enforced "no".
/// </summary>
public class GuaranteeTableTests
{
    private static string Doc => File.ReadAllText(Path.Combine(StrategyLibraryTests.RepoRoot, "docs", "language.md")).Replace("\r\n", "\n");

    private static IEnumerable<Diagnostic> Compile(string text) => PdecCompiler.Compile(text, "test.pdec").Diagnostics;

    private static void Verify(string markup) => Markup.Verify(markup, Compile);

    private static (string Lossless, string Distribution) Row(string construct, string kind)
    {
        string prefix = "| `" + construct + "` | " + kind + " | ";
        string? line = Doc.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        Assert.True(line is not null, $"docs/language.md has no soundness row '{prefix}'");
        var cells = line!.Split('|').Select(c => c.Trim()).ToArray(); // "", construct, kind, lossless, distribution, why, proved by, ""
        return (cells[3], cells[4]);
    }

    private static string YesNo(Preserves p, Preserves which) => (p & which) != 0 ? "yes" : "no";

    [Fact]
    public void The_doc_table_is_the_descriptors_guarantee_effects()
    {
        foreach (var d in PrimitiveLibrary.Default.All)
        {
            string construct = d.Receiver is { } r ? "<" + PrimitiveLibrary.ReceiverLabel(r) + ">." + d.Name : d.Name;
            string kind = d.Role == PrimitiveRole.Acceptance ? "acceptance" : d.Role.ToString().ToLowerInvariant();
            var (lossless, distribution) = Row(construct, kind);
            Assert.Equal(YesNo(d.Preserves, Preserves.Lossless), lossless);
            Assert.Equal(YesNo(d.Preserves, Preserves.Distribution), distribution);
        }

        foreach (var c in PrimitiveCatalog.CacheModes)
        {
            var (lossless, distribution) = Row("cache " + c.Written, "cache mode");
            Assert.Equal(YesNo(c.Preserves, Preserves.Lossless), lossless);
            Assert.Equal(YesNo(c.Preserves, Preserves.Distribution), distribution);
        }

        var blockCausal = PrimitiveCatalog.BlockCausalPrefixCache;
        Assert.Equal((YesNo(blockCausal.Preserves, Preserves.Lossless), YesNo(blockCausal.Preserves, Preserves.Distribution)), Row("cache prefix` on `masked(block_causal: n)", "cache mode"));
        Assert.Equal((YesNo(PrimitiveCatalog.AdaptiveBlock.Preserves, Preserves.Lossless), YesNo(PrimitiveCatalog.AdaptiveBlock.Preserves, Preserves.Distribution)), Row(PrimitiveCatalog.AdaptiveBlock.Written, "block rule"));
        Assert.Equal((YesNo(PrimitiveCatalog.EotStop.Preserves, Preserves.Lossless), YesNo(PrimitiveCatalog.EotStop.Preserves, Preserves.Distribution)), Row(PrimitiveCatalog.EotStop.Written, "stop condition"));
    }

    [Fact]
    public void Every_preserving_entry_names_the_test_that_proves_it()
    {
        foreach (string line in Doc.Split('\n').Where(l => l.StartsWith("| `", StringComparison.Ordinal) && l.Split('|').Length == 8))
        {
            var cells = line.Split('|').Select(c => c.Trim()).ToArray();
            if (cells[3] == "yes" || cells[4] == "yes") Assert.True(cells[6].Length > 1 && cells[6] != "—", $"'{cells[1]}' preserves a guarantee but names no test");
        }
    }

    [Fact]
    public void Greedy_acceptance_keeps_the_distribution_guarantee()
    {
        Assert.Empty(Compile("strategy S\n  guarantee distribution\n  canvas causal\n  model target: causal\n  model d: causal\n  step\n    propose draft(d, length: 3)\n    verify target\n    accept greedy\nend"));
    }

    [Fact]
    public void PDEC1025_draft_and_verify_does_not_keep_the_distribution()
    {
        Verify("strategy S\n  guarantee distribution\n  canvas masked(block: 8)\n  cache none\n  model m: masked\n  step\n    predict m\n    commit {|PDEC1025:draft_verify|}\n  stop max_tokens\nend");
    }

    [Fact]
    public void PDEC1008_an_approximate_cache_is_lossy()
    {
        Verify("strategy S\n  guarantee lossless\n  canvas masked(block: 8)\n  {|PDEC1008:cache prefix|}\n  model m: masked\n  step\n    predict m\n    commit one\n  stop max_tokens\nend");
    }

    [Fact]
    public void PDEC1008_an_adaptive_block_is_lossy()
    {
        Verify("strategy S\n  guarantee lossless\n  canvas masked(block: 8)\n  model m: masked\n  step\n    predict m\n    commit one\n    {|PDEC1008:block adaptive(min: 4, max: 16)|}\n  stop max_tokens\nend");
    }

    [Fact]
    public void PDEC1008_an_end_of_text_stop_is_lossy()
    {
        Verify("strategy S\n  guarantee lossless\n  canvas masked(block: 8)\n  model m: masked\n  step\n    predict m\n    commit one\n  stop {|PDEC1008:eot(0.9)|}, max_tokens\nend");
    }

    [Fact]
    public void PDEC1008_credits_are_not_claimed_under_a_guarantee()
    {
        Verify("strategy S\n  guarantee lossless\n  canvas masked(block: 8)\n  model m: masked\n  state trace = {|PDEC1008:credits(decay: 0.5)|}\n  step\n    predict m\n    commit one\n    update trace from predict\n  stop max_tokens\nend");
    }

    [Fact]
    public void A_primitive_without_a_declared_effect_preserves_nothing()
    {
        var library = PrimitiveLibrary.Default.With(PrimitiveLibrary.Default.Find(PrimitiveRole.Proposer, "lookup")! with { Preserves = Preserves.None });
        const string text = "strategy S\n  guarantee lossless\n  canvas causal\n  model target: causal\n  step\n    propose lookup(max_ngram: 2, length: 3)\n    verify target\n    accept greedy\nend";
        Assert.Equal("PDEC1008", Assert.Single(PdecCompiler.Compile(text, "t.pdec", library).Diagnostics).Id);
        Assert.Empty(PdecCompiler.Compile(text, "t.pdec").Diagnostics);
    }
}
