using System.Text;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Primitives;
using Xunit;

namespace Pardec.Constraints.Tests;

public sealed class TokenMatcherTests
{
    [Fact]
    public void SentencePiece_pieces_become_their_bytes()
    {
        Assert.Equal(" the"u8.ToArray(), TokenVocabulary.SentencePieceBytes("\u2581the"));
        Assert.Equal(new byte[] { 0x0A }, TokenVocabulary.SentencePieceBytes("<0x0A>"));
        Assert.Equal(new byte[] { 0xE2 }, TokenVocabulary.SentencePieceBytes("<0xE2>"));
        Assert.Null(TokenVocabulary.SentencePieceBytes("</s>"));
    }

    [Fact]
    public void Byte_level_tokens_become_their_bytes()
    {
        Assert.Equal(" world"u8.ToArray(), TokenVocabulary.ByteLevelBytes("\u0120world"));   // Ġ = space
        Assert.Equal("\n"u8.ToArray(), TokenVocabulary.ByteLevelBytes("\u010A"));             // Ċ = newline
        Assert.Equal(new byte[] { 0xC3, 0xA9 }, TokenVocabulary.ByteLevelBytes("\u00C3\u00A9")); // "é" split into its two bytes
    }

    /// <summary>The shipped tokenizer's bytes are what it decodes to: text encoded and mapped back to bytes round-trips.</summary>
    [Theory]
    [InlineData("And God said, Let there be light: and there was light.")]
    [InlineData("{\"name\": \"Ada\", \"age\": 36}")]
    [InlineData("caf\u00e9 \u2014 na\u00efve\nnext line")]
    public void The_shipped_vocabulary_spells_encoded_text_back(string text)
    {
        var ids = Shipped.Tokenizer.Encode(text);
        string spelled = Encoding.UTF8.GetString(Shipped.Vocabulary.Concatenate(ids));
        // SentencePiece adds a dummy-prefix space to the first piece; the decoder drops it for display.
        Assert.Equal(text, spelled.StartsWith(' ') && !text.StartsWith(' ') ? spelled[1..] : spelled);
        Assert.Equal(Shipped.Tokenizer.EosIds, Shipped.Vocabulary.EndTokens.ToArray());
    }

    /// <summary>
    /// Every mask is the brute-force one: for each state reached, a token is allowed exactly when walking its bytes
    /// through the DFA from that state stays live (or it is an end token and the state accepts). Checked over every
    /// state reachable on the 4k vocabulary for a regex and a JSON shape.
    /// </summary>
    [Theory]
    [InlineData(@"(yes|no|maybe)( [a-z]+){0,3}\.")]
    [InlineData(@"\{""n"": -?\d{1,3}, ""s"": ""[a-z ]{0,12}""\}")]
    [InlineData(@"[A-Z][a-z]+ [0-9]+:[0-9]+")]
    public void Masks_equal_the_brute_force_walk_of_every_token(string pattern)
    {
        var constraint = TokenConstraint.FromRegex(pattern);
        var matcher = constraint.For(Shipped.Vocabulary);
        var vocabulary = Shipped.Vocabulary;
        int states = matcher.Precompute();
        Assert.True(states > 5);
        var seen = new HashSet<int> { 0 };
        var queue = new Queue<int>([0]);
        int checkedStates = 0;
        while (queue.Count > 0)
        {
            int s = queue.Dequeue();
            checkedStates++;
            int allowed = 0, last = -1;
            for (int t = 0; t < vocabulary.Count; t++)
            {
                bool expected = vocabulary.IsEnd(t) ? constraint.Dfa.IsAccepting(s)
                              : vocabulary.HasBytes(t) && constraint.Dfa.Walk(s, vocabulary.Bytes(t)) >= 0;
                Assert.True(expected == matcher.Allows(s, t), $"state {s}, token {t}: expected {expected}");
                if (!expected) continue;
                allowed++; last = t;
                int next = matcher.Next(s, t);
                if (next >= 0 && seen.Add(next)) queue.Enqueue(next);
            }
            Assert.Equal(allowed, matcher.AllowedCount(s));
            Assert.Equal(allowed == 1 ? last : -1, matcher.ForcedToken(s));
        }
        Assert.Equal(states, checkedStates);
    }

    [Fact]
    public void A_masked_row_keeps_exactly_the_allowed_logits()
    {
        var matcher = TokenConstraint.FromRegex(@"[0-9]+").For(Shipped.Vocabulary);
        var row = new float[Shipped.Vocabulary.Count + 7]; // a padded embedding: the extra ids never match
        for (int i = 0; i < row.Length; i++) row[i] = i * 0.001f;
        matcher.MaskLogits(matcher.Start, row);
        for (int t = 0; t < row.Length; t++)
            Assert.Equal(t < Shipped.Vocabulary.Count && matcher.Allows(0, t), !float.IsNegativeInfinity(row[t]));
        Assert.True(matcher.AllowedCount(0) >= 10);
    }

    [Fact]
    public void A_state_rolls_back_any_number_of_tokens()
    {
        var matcher = TokenConstraint.FromRegex("abc(de|fg)").For(Shipped.Vocabulary);
        var state = new ConstraintState(16);
        state.Start(matcher);
        // A piece with a leading space ("▁a") is not allowed: the regex has none.
        if (Shipped.Tokenizer.TokenToId("\u2581a") is int spaced) Assert.False(matcher.Allows(0, spaced));
        var a = Shipped.Tokenizer.TokenToId("a")!.Value;
        var states = new List<int> { state.Current };
        foreach (char c in "abcde")
        {
            Assert.True(state.Advance(Shipped.Tokenizer.TokenToId(c.ToString())!.Value));
            states.Add(state.Current);
        }
        Assert.True(matcher.IsAccepting(state.Current));
        state.Rollback(2);
        Assert.Equal(states[3], state.Current);
        Assert.True(state.Advance(Shipped.Tokenizer.TokenToId("f")!.Value));
        Assert.False(state.Advance(a));   // "abcfa" cannot be completed
        Assert.Equal(TokenMatcher.Dead, state.Current);
        state.Rollback(1);
        Assert.True(state.Advance(Shipped.Tokenizer.TokenToId("g")!.Value));
        Assert.True(matcher.IsAccepting(state.Current));
        Assert.True(state.Advance(Shipped.Vocabulary.EndTokens[0]));
        Assert.True(state.IsFinished);
    }

    /// <summary>
    /// A token tree under a constraint: every node carries the state after its path, a forbidden child is refused
    /// (pruned before the target forward) and the rest of the tree stays intact.
    /// </summary>
    [Fact]
    public void Tree_nodes_carry_their_states_and_forbidden_children_are_pruned()
    {
        var tokenizer = Shipped.Tokenizer;
        var matcher = TokenConstraint.FromRegex("(cat|car|dog)s?").For(Shipped.Vocabulary);
        int T(string piece) => tokenizer.TokenToId(piece) ?? throw new InvalidOperationException(piece);
        var tree = new CandidateTree(8);
        tree.Reset(rootToken: 1, matcher, matcher.Start, prune: true);
        int c = tree.AddChild(0, T("c"));
        int ca = tree.AddChild(c, T("a"));
        int cat = tree.AddChild(ca, T("t"));
        int car = tree.AddChild(ca, T("r"));
        Assert.Equal(CandidateTree.NoNode, tree.AddChild(ca, T("b")));   // "cab…": forbidden
        Assert.Equal(CandidateTree.NoNode, tree.AddChild(0, T("x")));
        int d = tree.AddChild(0, T("d"));
        Assert.Equal(6, tree.Count);
        foreach (var (node, text) in new[] { (c, "c"), (ca, "ca"), (cat, "cat"), (car, "car"), (d, "d") })
            Assert.Equal(matcher.Dfa.Walk(0, Encoding.UTF8.GetBytes(text)), tree.ConstraintState(node));
        Assert.True(matcher.IsAccepting(tree.ConstraintState(cat)));
        Assert.False(matcher.IsAccepting(tree.ConstraintState(ca)));
        // Unpruned: the node is added, its state dead.
        tree.Reset(1, matcher, matcher.Start, prune: false);
        int x = tree.AddChild(0, T("x"));
        Assert.Equal(TokenMatcher.Dead, tree.ConstraintState(x));
    }

    [Fact]
    public void Forced_text_is_found_and_tokenised_longest_first()
    {
        var matcher = TokenConstraint.FromRegex(@"\{""answer"": (yes|no)\}").For(Shipped.Vocabulary);
        Span<byte> forced = stackalloc byte[64];
        int n = matcher.ForcedBytes(matcher.Start, forced);
        Assert.Equal("{\"answer\": ", Encoding.UTF8.GetString(forced[..n]));
        int token = matcher.LongestTokenPrefix(matcher.Start, forced[..n], out int length);
        Assert.True(token >= 0 && length >= 1);
        Assert.Equal(forced[..length].ToArray(), Shipped.Vocabulary.Bytes(token).ToArray());
        // No allowed token is a longer prefix of the forced text.
        for (int t = 0; t < Shipped.Vocabulary.Count; t++)
        {
            var bytes = Shipped.Vocabulary.Bytes(t);
            if (bytes.Length > length && bytes.Length <= n && forced[..bytes.Length].SequenceEqual(bytes))
                Assert.False(matcher.Allows(matcher.Start, t));
        }
    }
    /// <summary>Masking a logits row keeps exactly the allowed ids' values and sets every other one (and padding) to −∞,
    /// over every state reachable for a JSON shape: all-allowed, all-forbidden and mixed 64-token words alike.</summary>
    [Fact]
    public void Masked_rows_keep_exactly_the_allowed_logits()
    {
        var matcher = TokenConstraint.FromJsonSchema("""{"type":"object","properties":{"n":{"type":"integer"},"s":{"type":"string"}},"required":["n","s"]}""").For(Shipped.Vocabulary);
        matcher.Precompute();
        var random = new Random(4);
        var original = new float[Shipped.Vocabulary.Count + 37]; // wider than the vocabulary, as padded heads are
        for (int i = 0; i < original.Length; i++) original[i] = (float)(random.NextDouble() * 10 - 5);
        var row = new float[original.Length];
        int mixed = 0;
        for (int state = 0; state < matcher.Dfa.StateCount; state++)
        {
            original.CopyTo(row, 0);
            matcher.MaskLogits(state, row);
            for (int t = 0; t < row.Length; t++)
                Assert.Equal(t < Shipped.Vocabulary.Count && matcher.Allows(state, t) ? original[t] : float.NegativeInfinity, row[t]);
            var bits = matcher.AllowedBits(state);
            foreach (ulong w in bits) if (w != 0 && w != ulong.MaxValue) mixed++;
        }
        Assert.True(mixed > 100, "the states should have many mixed words");
    }
}
