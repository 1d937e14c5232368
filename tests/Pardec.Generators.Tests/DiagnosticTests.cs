using Microsoft.CodeAnalysis;

namespace Pardec.Generators.Tests;

/// <summary>One test per generator diagnostic; each marks the exact span it expects, <c>{|PDEC2001:Name|}</c>.</summary>
public sealed class DiagnosticTests
{
    private const string Usings = "using System;\nusing Pardec;\n\nnamespace Demo;\n\n";

    [Fact]
    public void PDEC2001_a_strategy_class_that_is_not_partial()
    {
        Verify("""
            [Strategy(Guarantee.Lossless)]
            [Step("propose lookup(max_ngram: 3, length: 10)", "verify target", "accept greedy")]
            public sealed class {|PDEC2001:Plain|}
            {
                [Model(ModelKind.Causal)]
                public static partial string Target { get; }
            }
            """);
    }

    [Fact]
    public void PDEC2002_a_hook_with_the_wrong_signature_shows_the_expected_one()
    {
        var diagnostics = Verify("""
            [Strategy(Guarantee.Lossless)]
            [Step("verify target", "accept greedy")]
            public sealed partial class Hooked
            {
                [Model(ModelKind.Causal)]
                public static partial string Target { get; }

                [Propose]
                private static int {|PDEC2002:Guess|}(int[] context, Span<int> draft) => 0;
            }
            """);
        Assert.Equal("Hook 'Guess' has the wrong signature; expected 'static int Guess(ReadOnlySpan<int> context, Span<int> draft)', found 'static int Guess(int[] context, Span<int> draft)'",
            diagnostics.Single().GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void PDEC2003_a_strategy_class_nested_in_another_type()
    {
        Verify("""
            public static partial class Outer
            {
                [Strategy(Guarantee.Lossless)]
                [Step("propose lookup(max_ngram: 3, length: 10)", "verify target", "accept greedy")]
                public sealed partial class {|PDEC2003:Inner|}
                {
                    [Model(ModelKind.Causal)]
                    public static partial string Target { get; }
                }
            }
            """);
    }

    [Fact]
    public void PDEC2004_a_model_role_that_is_not_a_static_partial_string_property()
    {
        Verify("""
            [Strategy(Guarantee.Lossless)]
            [Step("propose lookup(max_ngram: 3, length: 10)", "verify target", "accept greedy")]
            public sealed partial class Roles
            {
                [Model(ModelKind.Causal)]
                public string {|PDEC2004:Target|} { get; } = "target";
            }
            """);
    }

    [Fact]
    public void PDEC2005_commit_is_reserved()
    {
        Verify("""
            [Strategy(Guarantee.Lossless)]
            [Step("propose lookup(max_ngram: 3, length: 10)", "verify target", "accept greedy")]
            public sealed partial class Committed
            {
                [Model(ModelKind.Causal)]
                public static partial string Target { get; }

                [{|PDEC2005:Commit|}]
                private const int Rule = 0;
            }
            """);
    }

    [Fact]
    public void PDEC2006_a_hook_on_a_strategy_that_accepts_by_rejection()
    {
        Verify("""
            [Strategy(Guarantee.Distribution)]
            [Step("propose draft(draft, length: 4, sample)", "verify target", "accept rejection")]
            public sealed partial class Sampled
            {
                [Model(ModelKind.Causal)]
                public static partial string Target { get; }

                [Model(ModelKind.Causal)]
                public static partial string Draft { get; }

                [Propose]
                private static int {|PDEC2006:Guess|}(ReadOnlySpan<int> context, Span<int> draft) => 0;
            }
            """);
    }

    [Fact]
    public void PDEC2007_a_hook_type_without_a_Propose_of_the_right_signature()
    {
        Verify("""
            [Strategy(Guarantee.Lossless)]
            [Step("verify target", "accept greedy")]
            public sealed partial class Typed
            {
                [Model(ModelKind.Causal)]
                public static partial string Target { get; }

                [Propose]
                private sealed class {|PDEC2007:Guess|}
                {
                    public int Propose(int[] context) => 0;
                }
            }
            """);
    }

    [Fact]
    public void A_front_end_error_in_step_text_is_reported_at_that_attribute_argument()
    {
        var diagnostics = Verify("""
            [Strategy(Guarantee.Lossless)]
            [Step({|PDEC1001:"propose lokup(max_ngram: 3, length: 10)"|}, "verify target", "accept greedy")]
            public sealed partial class Typo
            {
                [Model(ModelKind.Causal)]
                public static partial string Target { get; }
            }
            """);
        Assert.Contains("lookup", diagnostics.Single().GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void A_front_end_error_in_a_param_default_is_reported_at_its_attribute()
    {
        Verify("""
            [Strategy(Guarantee.Lossless)]
            [Step("propose lookup(max_ngram: 3, length: length)", "verify target", "accept greedy")]
            public sealed partial class OutOfRange
            {
                [Model(ModelKind.Causal)]
                public static partial string Target { get; }

                [{|PDEC1005:Param(Min = 1, Max = 8)|}]
                public int Length { get; init; } = 10;
            }
            """);
    }

    [Fact]
    public void A_front_end_error_in_a_pdec_file_is_reported_at_its_file_line_and_column()
    {
        var text = new InMemoryText("strategies/broken.pdec", """
            strategy Broken
              guarantee lossless
              canvas causal
              model target: causal
              step
                propose lookup(max_ngram: 3, length: 10)
                verify targt
                accept greedy
            end
            """);
        var (_, result, _) = GeneratorHarness.Run(new[] { text });

        var error = Assert.Single(result.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        var span = error.Location.GetLineSpan();
        Assert.Equal("strategies/broken.pdec", span.Path);
        Assert.Equal((6, 11), (span.StartLinePosition.Line, span.StartLinePosition.Character));
        Assert.Equal((6, 16), (span.EndLinePosition.Line, span.EndLinePosition.Character));
        Assert.StartsWith("PDEC1", error.Id, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""
        [Strategy(Guarantee.Lossless)]
        [Step({|PDEC1001:"propose lokup(max_ngram: 3, length: 10)"|}, "verify target", "accept greedy")]
        public sealed partial class Typo
        {
            [Model(ModelKind.Causal)]
            public static partial string Target { get; }

            [Model(ModelKind.Causal)]
            internal static partial string Draft { get; }
        }
        """)]
    [InlineData("""
        [Strategy(Guarantee.Lossless)]
        [Step("propose lookup(max_ngram: 3, length: 10)", "verify target", "accept greedy")]
        public sealed partial class Hooked
        {
            [Model(ModelKind.Causal)]
            public static partial string Target { get; }

            [Propose]
            private static int {|PDEC2002:Guess|}(int[] context, Span<int> draft) => 0;
        }
        """)]
    [InlineData("""
        [Strategy(Guarantee.Lossless)]
        [Step("propose lookup(max_ngram: 3, length: 10)", "verify target", "accept greedy")]
        public sealed partial class Roles
        {
            [Model(ModelKind.Causal)]
            public static partial string Target { get; }

            [Model(ModelKind.Causal)]
            public static string {|PDEC2004:Draft|} { get; } = "draft";
        }
        """)]
    public void A_strategy_with_errors_still_implements_its_role_properties_so_its_PDEC_error_is_the_only_one(string marked)
    {
        // Like the Regex generator's fallback: the role properties get their implementation even when the strategy does
        // not compile, so the user sees the PDEC error and not CS9248 (a partial property without an implementation).
        var (source, expected) = Markup.Parse(Usings + marked);
        var (output, result, _) = GeneratorHarness.Run(Array.Empty<AdditionalText>(), source);
        Assert.Equal(
            expected.Select(e => e.Id + "@" + e.Span).Order(StringComparer.Ordinal),
            GeneratorHarness.Problems(output, result).Select(d => d.Id + "@" + d.Location.SourceSpan).Order(StringComparer.Ordinal));
    }

    /// <summary>Runs the generator on the marked source; the generator's diagnostics must be exactly the marked ones.</summary>
    private static IReadOnlyList<Diagnostic> Verify(string marked)
    {
        var (source, expected) = Markup.Parse(Usings + marked);
        var (_, result, _) = GeneratorHarness.Run(Array.Empty<AdditionalText>(), source);
        var actual = result.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();

        Assert.Equal(
            expected.Select(e => e.Id + "@" + e.Span).Order(StringComparer.Ordinal),
            actual.Select(d => d.Id + "@" + d.Location.SourceSpan).Order(StringComparer.Ordinal));
        Assert.All(actual, d => Assert.Equal("src/File0.cs", d.Location.GetLineSpan().Path));
        return actual;
    }
}
