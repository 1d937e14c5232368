using System.Text;
using System.Text.RegularExpressions;
using Pardec.Runtime.Constraints;
using Xunit;

namespace Pardec.Constraints.Tests;

public sealed class RegexCompilerTests
{
    private static ByteDfa Dfa(string pattern) => ByteDfa.From(RegexCompiler.Compile(pattern));

    [Theory]
    [InlineData(@"\d{3}-\d{4}", "555-1234", true)]
    [InlineData(@"\d{3}-\d{4}", "555-123", false)]
    [InlineData(@"(?:ab|cd)+e?", "abcdab", true)]
    [InlineData(@"(?:ab|cd)+e?", "abce", false)]
    [InlineData(@"^[A-Z][a-z]*$", "Hello", true)]
    [InlineData(@"[^a-c]x", "dx", true)]
    [InlineData(@"[^a-c]x", "bx", false)]
    [InlineData(@"\w+@\w+\.com", "me@site.com", true)]
    [InlineData(@"a{2,}", "a", false)]
    [InlineData(@"a{2,}", "aaaa", true)]
    [InlineData(@"\u00e9t\u00e9", "été", true)]
    [InlineData(@".", "é", true)]
    [InlineData(@".", "\n", false)]
    [InlineData(@"[α-ω]+", "λόγος", false)] // ό is outside α-ω
    [InlineData(@"[α-ω]+", "λογοσ", true)]
    [InlineData(@"😀|x", "😀", true)]
    [InlineData(@"(?<year>\d{4})", "2026", true)]
    [InlineData(@"a.*?b", "axxb", true)]
    [InlineData(@"\{""a"": \d\}", "{\"a\": 1}", true)]
    public void A_pattern_matches_whole_strings_in_their_utf8_bytes(string pattern, string text, bool matches) =>
        Assert.Equal(matches, Dfa(pattern).Matches(text));

    [Theory]
    [InlineData("a(b", 1, "missing ')'")]
    [InlineData("ab)", 2, "unbalanced ')'")]
    [InlineData("[abc", 0, "missing ']'")]
    [InlineData("*a", 0, "nothing to repeat")]
    [InlineData(@"(a)\1", 3, "backreferences")]
    [InlineData("a(?=b)", 1, "lookaround")]
    [InlineData("a{3,1}", 1, "below its minimum")]
    [InlineData("[z-a]", 1, "out of order")]
    [InlineData(@"\q", 0, "unknown escape")]
    [InlineData("a^b", 1, "only supported at the start")]
    [InlineData(@"x\", 1, "lone")]
    public void A_syntax_error_is_a_typed_exception_at_its_position(string pattern, int position, string reason)
    {
        var e = Assert.Throws<ConstraintSyntaxException>(() => RegexCompiler.Compile(pattern));
        Assert.Equal(ConstraintLanguage.Regex, e.Language);
        Assert.Equal(position, e.Position);
        Assert.Contains(reason, e.Message);
        Assert.Equal(1, e.Line);
        Assert.Equal(position + 1, e.Column);
    }

    /// <summary>
    /// A fuzz against .NET's own regex engine: random patterns from the supported syntax, random strings over their
    /// alphabet (and strings the DFA itself generates), fullmatch on both sides must agree.
    /// </summary>
    [Fact]
    public void Random_patterns_agree_with_dotnet_regex_on_random_strings()
    {
        var random = new Random(18);
        string[] atoms = ["a", "b", "c", ".", "[ab]", "[^a]", @"\d", "(a|bc)", "(?:ab)", "é", "[a-cé]", @"\s", "x"];
        string[] quantifiers = ["", "", "", "*", "+", "?", "{2}", "{1,3}", "{0,}"];
        int checkedStrings = 0;
        for (int trial = 0; trial < 200; trial++)
        {
            var pattern = new StringBuilder();
            int parts = random.Next(1, 5);
            for (int i = 0; i < parts; i++)
            {
                if (i > 0 && random.Next(6) == 0) pattern.Append('|');
                pattern.Append(atoms[random.Next(atoms.Length)]).Append(quantifiers[random.Next(quantifiers.Length)]);
            }
            string p = pattern.ToString();
            var dfa = Dfa(p);
            var reference = new Regex($"^(?:{p})\\z", RegexOptions.CultureInvariant); // \z: .NET's $ also matches before a final \n
            string alphabet = "abcxé1 \n";
            for (int s = 0; s < 60; s++)
            {
                var text = new StringBuilder();
                int length = random.Next(0, 7);
                for (int k = 0; k < length; k++) text.Append(alphabet[random.Next(alphabet.Length)]);
                string t = text.ToString();
                // .NET's \d and \s are Unicode-wide, ours ASCII (as llama.cpp's and Outlines' byte engines): compare on ASCII digits/space.
                Assert.True(reference.IsMatch(t) == dfa.Matches(t), $"pattern /{p}/ on \"{Regex.Escape(t)}\": .NET {reference.IsMatch(t)}, DFA {dfa.Matches(t)}");
                checkedStrings++;
            }
        }
        Assert.True(checkedStrings >= 12000);
    }

    [Fact]
    public void A_pattern_that_matches_nothing_is_refused() =>
        Assert.Throws<ArgumentException>(() => Dfa(@"[^\s\S]"));
}
