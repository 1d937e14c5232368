using System.Numerics;
using System.Text;
using Pardec.Runtime.Constraints;
using Xunit;
using Xunit.Abstractions;

namespace Pardec.Constraints.Tests;

/// <summary>Recursive GBNF: the pushdown matcher behind the same <see cref="TokenMatcher"/> as the regular DFA.</summary>
public sealed class RecursiveGbnfTests(ITestOutputHelper output)
{
    /// <summary>A JSON grammar (value → object → value), the cross-check's tests/fixtures/peer-grammar/grammars/json.gbnf.</summary>
    public static string Json => File.ReadAllText(Path.Combine(Shipped.RepoRoot(), "tests", "fixtures", "peer-grammar", "grammars", "json.gbnf"));

    public const string Parens = """
        root  ::= "(" inner ")"
        inner ::= [a-z ]* ("(" inner ")" [a-z ]*)*
        """;

    [Theory]
    [InlineData("{}", true)]
    [InlineData("{\"a\": [1, 2.5, {\"b\": null}], \"c\": \"x\\n\"}", true)]
    [InlineData("{\"a\": [[[[[[[[[[true]]]]]]]]]]}", true)]
    [InlineData("{\"a\": [1, 2,]}", false)]
    [InlineData("{\"a\": [[[[true]]]}", false)]
    [InlineData("[1]", false)]
    public void A_recursive_grammar_accepts_its_language(string text, bool matches)
    {
        var constraint = TokenConstraint.FromGbnf(Json);
        Assert.False(constraint.IsRegular);
        Assert.Equal(matches, constraint.Matches(text));
    }

    [Fact]
    public void A_regular_grammar_still_compiles_to_a_dfa()
    {
        Assert.True(TokenConstraint.FromGbnf(GbnfTests.Answer).IsRegular);
        Assert.False(TokenConstraint.FromGbnf(Parens).IsRegular);
        Assert.Throws<InvalidOperationException>(() => TokenConstraint.FromGbnf(Parens).Dfa);
    }

    [Theory]
    [InlineData("root ::= expr\nexpr ::= expr \"+\" term | term\nterm ::= [0-9]", 2, "'expr' is left-recursive (expr -> expr)")]
    [InlineData("root ::= a\na ::= b \"x\" | \"y\"\nb ::= \"\" | a \"z\"", 2, "left-recursive (a -> b -> a)")]
    [InlineData("root ::= \"(\" root \")\" | inner\ninner ::= \"x\" missing", 2, "the rule 'missing' is not defined")]
    [InlineData("root ::= \"a\" root", 1, "derives no finite string")]
    [InlineData("root ::= \"(\" root \")\" | [a-", 1, "missing ']'")]
    public void A_recursive_grammar_error_names_the_rule_and_its_position(string grammar, int line, string reason)
    {
        var e = Assert.Throws<ConstraintSyntaxException>(() => TokenConstraint.FromGbnf(grammar, "g.gbnf"));
        Assert.Equal(line, e.Line);
        Assert.Contains(reason, e.Message);
        Assert.StartsWith($"g.gbnf({e.Line},{e.Column})", e.Message);
    }

    /// <summary>
    /// A synthetic vocabulary over the random grammars' alphabet: every single byte (so é can be split, as byte
    /// fallback and byte-level BPE split it), é whole, random strings of up to four characters, one special token with
    /// no bytes and an end token.
    /// </summary>
    private static TokenVocabulary Vocabulary(int seed)
    {
        var random = new Random(seed);
        var tokens = new List<byte[]?> { null };
        foreach (byte b in "abc()"u8) tokens.Add([b]);
        tokens.Add([0xC3]);
        tokens.Add([0xA9]);
        tokens.Add("\u00e9"u8.ToArray());
        var seen = new HashSet<string>();
        while (tokens.Count < 160)
        {
            var bytes = Enumerable.Range(0, random.Next(2, 5)).SelectMany(_ => RandomGrammar.Alphabet[random.Next(RandomGrammar.Alphabet.Length)]).ToArray();
            if (seen.Add(Convert.ToHexString(bytes))) tokens.Add(bytes);
        }
        tokens.Add(null); // the end token: no bytes
        return new TokenVocabulary(tokens, [tokens.Count - 1]);
    }

    /// <summary>
    /// On 100 random grammars (regular and recursive, nullable rules, quantifiers, multi-byte characters), every mask
    /// of every state reached (breadth-first, up to 40 per grammar) equals Earley's recognizer run on the state's text
    /// plus each token: allowed exactly when the text stays a viable prefix, end tokens exactly when it is a sentence.
    /// </summary>
    [Fact]
    public void Masks_equal_a_brute_force_walk_on_random_grammars()
    {
        var vocabulary = Vocabulary(1);
        int recursive = 0, regular = 0, rejected = 0, states = 0;
        for (int seed = 0; seed < 100; seed++)
        {
            var grammar = new RandomGrammar(seed);
            var earley = new EarleyRecognizer(grammar);
            TokenMatcher matcher;
            try { matcher = TokenConstraint.FromGbnf(grammar.Text).For(vocabulary); }
            catch (ConstraintSyntaxException e)
            {
                // Left recursion or no finite string: the only refusals a well-formed grammar can get.
                Assert.True(e.Reason.Contains("left-recursive") || (e.Reason.Contains("derives no finite string") && !earley.Productive), $"{grammar.Text}\n{e.Message}");
                rejected++;
                continue;
            }
            Assert.True(earley.Productive, grammar.Text);
            if (matcher.IsRegular) regular++; else recursive++;
            var text = new Dictionary<int, byte[]> { [matcher.Start] = [] };
            var queue = new Queue<int>([matcher.Start]);
            int visited = 0;
            while (queue.Count > 0 && visited < 40)
            {
                int s = queue.Dequeue();
                visited++;
                var prefix = text[s];
                var (viable, accepts) = earley.Recognize(prefix);
                Assert.True(viable, $"{grammar.Text}\nstate {s} reached by '{Encoding.UTF8.GetString(prefix)}' is not a viable prefix");
                Assert.Equal(accepts, matcher.IsAccepting(s));
                int allowed = 0;
                for (int t = 0; t < vocabulary.Count; t++)
                {
                    bool expected = vocabulary.IsEnd(t) ? accepts
                                  : vocabulary.HasBytes(t) && earley.Recognize([.. prefix, .. vocabulary.Bytes(t)]).Viable;
                    Assert.True(expected == matcher.Allows(s, t),
                        $"{grammar.Text}\nafter '{Encoding.UTF8.GetString(prefix)}', token '{Encoding.UTF8.GetString(vocabulary.Bytes(t))}' ({t}): expected {expected}");
                    if (!expected) continue;
                    allowed++;
                    int next = matcher.Next(s, t);
                    if (next >= 0 && !text.ContainsKey(next)) { text[next] = [.. prefix, .. vocabulary.Bytes(t)]; queue.Enqueue(next); }
                }
                Assert.Equal(allowed, matcher.AllowedCount(s));
                states++;
            }
        }
        output.WriteLine($"{recursive} recursive and {regular} regular grammars, {rejected} rejected (left recursion / empty language); {states} states checked");
        Assert.True(recursive >= 18, $"only {recursive} recursive grammars");
        Assert.True(regular >= 10, $"only {regular} regular grammars");
    }

    /// <summary>
    /// A fuzz: 300 random grammars, 20 random constrained walks each (a random allowed token per step, until an end
    /// token or 30 tokens): nothing throws, no walk gets stuck, every finished output is a sentence of the grammar
    /// (Earley) and every unfinished one a viable prefix. Rollback and re-advance reproduce the same states.
    /// </summary>
    [Fact]
    public void Random_grammars_never_crash_and_never_yield_a_non_matching_output()
    {
        var vocabulary = Vocabulary(2);
        var random = new Random(5);
        int walks = 0, finished = 0;
        for (int seed = 1000; seed < 1300; seed++)
        {
            var grammar = new RandomGrammar(seed);
            TokenMatcher matcher;
            try { matcher = TokenConstraint.FromGbnf(grammar.Text).For(vocabulary); }
            catch (ConstraintSyntaxException) { continue; }
            var earley = new EarleyRecognizer(grammar);
            var state = new ConstraintState(64);
            for (int w = 0; w < 20; w++)
            {
                state.Start(matcher);
                var tokens = new List<int>();
                while (!state.IsFinished && tokens.Count < 30)
                {
                    Assert.False(state.IsStuck, grammar.Text);
                    var bits = matcher.AllowedBits(state.Current);
                    int pick = random.Next(matcher.AllowedCount(state.Current)), token = -1;
                    for (int word = 0; word < bits.Length && token < 0; word++)
                    {
                        int here = BitOperations.PopCount(bits[word]);
                        if (pick >= here) { pick -= here; continue; }
                        ulong x = bits[word];
                        for (int k = 0; k < pick; k++) x &= x - 1;
                        token = word * 64 + BitOperations.TrailingZeroCount(x);
                    }
                    Assert.True(state.Advance(token));
                    tokens.Add(token);
                }
                var bytes = vocabulary.Concatenate(tokens);
                var (viable, accepts) = earley.Recognize(bytes);
                Assert.True(viable, $"{grammar.Text}\n'{Encoding.UTF8.GetString(bytes)}'");
                if (state.IsFinished) { Assert.True(accepts, $"{grammar.Text}\n'{Encoding.UTF8.GetString(bytes)}' ended but is not a sentence"); finished++; }
                // Rolling back any number of tokens and replaying them gives the same states.
                int back = random.Next(tokens.Count + 1);
                int end = state.Current;
                state.Rollback(back);
                foreach (int t in tokens.Skip(tokens.Count - back)) state.Advance(t);
                Assert.Equal(end, state.Current);
                walks++;
            }
        }
        output.WriteLine($"{walks} walks, {finished} ended with an end token");
        Assert.True(walks >= 3000 && finished >= 500);
    }

    /// <summary>
    /// A configuration's mask from the per-position caches (its top positions' own masks, plus the stack-dependent
    /// tokens walked) equals the trie walk of the whole configuration, at every state of a walk through JSON nested
    /// eight deep on the shipped vocabulary.
    /// </summary>
    [Fact]
    public void Masks_from_position_caches_equal_the_trie_walk()
    {
        var text = new StringBuilder();
        for (int d = 0; d < 8; d++) text.Append($"{{\"k{d}\": [{d}, \"s {d}\", true, ");
        text.Append("null");
        for (int d = 0; d < 8; d++) text.Append("]}");
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        var cached = new TokenMatcher(TokenConstraint.FromGbnf(Json).Pushdown!, Shipped.Vocabulary, positionMasks: true);
        var walked = new TokenMatcher(TokenConstraint.FromGbnf(Json).Pushdown!, Shipped.Vocabulary, positionMasks: false);
        int a = cached.Start, b = walked.Start, at = 0, steps = 0;
        while (at < bytes.Length)
        {
            Assert.True(cached.AllowedBits(a).SequenceEqual(walked.AllowedBits(b)), $"masks differ after '{Encoding.UTF8.GetString(bytes[..at])}'");
            int token = cached.LongestTokenPrefix(a, bytes.AsSpan(at), out int length);
            Assert.True(token >= 0);
            a = cached.Next(a, token);
            b = walked.Next(b, token);
            at += length;
            steps++;
        }
        Assert.True(cached.IsAccepting(a) && walked.IsAccepting(b));
        output.WriteLine($"{steps} states: {cached.PositionMasksBuilt} masks from positions, {cached.TrieMasksBuilt} by the trie walk");
        Assert.True(cached.PositionMasksBuilt > steps / 4, $"only {cached.PositionMasksBuilt} of {steps} masks came from the position caches");
        Assert.Equal(0, walked.PositionMasksBuilt);
    }

    /// <summary>Deep nesting goes through the same interface: masks, forced bytes and the state's accept flag.</summary>
    [Fact]
    public void Nesting_deeper_than_any_automaton_state_count_is_matched()
    {
        var matcher = TokenConstraint.FromGbnf(Parens).For(Shipped.Vocabulary);
        var state = new ConstraintState(512);
        state.Start(matcher);
        int open = Shipped.Tokenizer.TokenToId("(")!.Value, close = Shipped.Tokenizer.TokenToId(")")!.Value;
        for (int i = 0; i < 200; i++) Assert.True(state.Advance(open));
        Assert.False(matcher.IsAccepting(state.Current));
        Assert.False(matcher.Allows(state.Current, Shipped.Vocabulary.EndTokens[0]));
        for (int i = 0; i < 200; i++)
        {
            Assert.True(matcher.Allows(state.Current, close));
            Assert.True(state.Advance(close));
        }
        Assert.True(matcher.IsAccepting(state.Current));
        Assert.False(matcher.Allows(state.Current, close));
        Assert.Equal(Shipped.Vocabulary.EndTokens[0], matcher.ForcedToken(state.Current));
        Span<byte> forced = stackalloc byte[8];
        Assert.Equal(1, matcher.ForcedBytes(matcher.Start, forced));
        Assert.Equal((byte)'(', forced[0]);
    }
}
