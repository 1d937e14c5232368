using Pardec.Runtime.Constraints;
using Xunit;

namespace Pardec.Constraints.Tests;

public sealed class GbnfTests
{
    public const string Answer = """
        # A yes/no answer with a short reason, as a llama.cpp user would write it.
        root   ::= answer " because " reason "."
        answer ::= ("Yes" | "No")
        reason ::= word (" " word){0,5}
        word   ::= [a-z]+
        """;

    [Theory]
    [InlineData("Yes because it is.", true)]
    [InlineData("No because a b c d e f.", true)]
    [InlineData("No because a b c d e f g.", false)]
    [InlineData("Maybe because x.", false)]
    [InlineData("Yes because.", false)]
    public void A_grammar_accepts_its_language(string text, bool matches) =>
        Assert.Equal(matches, TokenConstraint.FromGbnf(Answer).Dfa.Matches(text));

    [Fact]
    public void Llama_cpp_syntax_is_read_as_llama_cpp_reads_it()
    {
        const string grammar = """
            root ::= "[" ws (item ("," ws item)*)? "]"
            item ::= "\"" [^"\\\x00-\x1f]* "\"" | [0-9]+ | "\u00e9"
            ws ::= | " "
            """;
        var dfa = TokenConstraint.FromGbnf(grammar).Dfa;
        Assert.True(dfa.Matches("[\"a b\", 12, é]".Replace(", é", ",é")));
        Assert.True(dfa.Matches("[]"));
        Assert.True(dfa.Matches("[ 1, 2]"));
        Assert.False(dfa.Matches("[1,,2]"));
        Assert.False(dfa.Matches("[\"a\nb\"]"));
    }

    [Theory]
    [InlineData("root ::= \"a\" item\nitem ::= item \")\" | \"x\"", 2, "left-recursive (item -> item)")]
    [InlineData("root ::= \"a\" missing", 1, "'missing' is not defined")]
    [InlineData("item ::= \"a\"", 1, "no 'root' rule")]
    [InlineData("root ::= \"a\n", 1, "unterminated string")]
    [InlineData("root ::= [a-", 1, "missing ']'")]
    [InlineData("root := \"a\"", 1, "expected '::='")]
    [InlineData("root ::= <think> \"a\"", 1, "token references")]
    [InlineData("root ::= (\"a\" | \"b\"", 1, "missing ')'")]
    public void A_grammar_error_names_its_line_and_column(string grammar, int line, string reason)
    {
        var e = Assert.Throws<ConstraintSyntaxException>(() => TokenConstraint.FromGbnf(grammar, "g.gbnf"));
        Assert.Equal(ConstraintLanguage.Gbnf, e.Language);
        Assert.Equal(line, e.Line);
        Assert.Contains(reason, e.Message);
        Assert.StartsWith($"g.gbnf({e.Line},{e.Column})", e.Message);
    }

    [Fact]
    public void A_grammar_and_the_equivalent_regex_give_the_same_automaton_language()
    {
        var grammar = TokenConstraint.FromGbnf(Answer).Dfa;
        var regex = TokenConstraint.FromRegex("(Yes|No) because [a-z]+( [a-z]+){0,5}\\.").Dfa;
        Assert.Equal(regex.StateCount, grammar.StateCount);
        var random = new Random(3);
        string[] pieces = ["Yes", "No", " because ", "a", "bc", " ", ".", "x"];
        for (int i = 0; i < 2000; i++)
        {
            string s = string.Concat(Enumerable.Range(0, random.Next(1, 9)).Select(_ => pieces[random.Next(pieces.Length)]));
            Assert.Equal(regex.Matches(s), grammar.Matches(s));
        }
    }
}
