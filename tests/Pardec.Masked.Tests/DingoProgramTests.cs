using System.Text;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Masked.Constrained;
using Pardec.Runtime.Primitives;
using Xunit;

namespace Pardec.Masked.Tests;

/// <summary>
/// DINGO's block program against brute force: on small vocabularies and blocks, the assignment it returns is the most
/// probable one among every assignment of the masked offsets whose text the constraint accepts and can still finish in
/// the canvas left; when none exists it says so; sampling draws exactly from the constrained product distribution.
/// </summary>
public sealed class DingoProgramTests
{
    // Pieces of a tiny vocabulary: multi-byte tokens, a token that never fits, and an end token (id 7).
    private static readonly string?[] Pieces = ["a", "b", "ab", "{", "}", "ba", "zz", null];
    private const int End = 7;
    private static TokenVocabulary Vocabulary { get; } =
        new(Pieces.Select(p => p is null ? null : Encoding.UTF8.GetBytes(p)).ToArray(), [End]);

    public static TheoryData<string> Patterns => new() { "(ab|b)*a", "a{2,3}b?", @"\{a*b?\}", "(a|ba)+b" };

    [Theory]
    [MemberData(nameof(Patterns))]
    public void The_program_finds_the_brute_force_optimum(string pattern)
    {
        var matcher = TokenConstraint.FromRegex(pattern).For(Vocabulary);
        var program = new DingoProgram(5);
        program.Start(matcher);
        var random = new Random(pattern.Length);
        int stride = Pieces.Length + 1; // rows wider than the vocabulary, as padded embeddings make them
        int solved = 0, refused = 0;
        for (int trial = 0; trial < 150; trial++)
        {
            int block = random.Next(1, 6), remaining = random.Next(0, 4);
            var committed = new long[block];
            for (int i = 0; i < block; i++) committed[i] = random.Next(4) == 0 ? random.Next(Pieces.Length) : -1;
            var logits = new float[block * stride];
            for (int i = 0; i < logits.Length; i++) logits[i] = (float)(random.NextDouble() * 6 - 3);
            // The state before the block: a random short valid prefix.
            int state = matcher.Start;
            for (int k = random.Next(3); k > 0; k--)
            {
                int t = random.Next(Pieces.Length - 1);
                if (matcher.Next(state, t) >= 0) state = matcher.Next(state, t);
            }

            var (bestScore, bestTokens) = BruteForce(matcher, state, committed, logits, stride, remaining);
            var tokens = new long[block];
            bool found = program.Solve(state, committed, logits, stride, remaining, tokens);
            Assert.Equal(bestTokens is not null, found);
            if (!found) { refused++; continue; }
            solved++;
            Assert.Equal(bestScore, program.Score, 5);
            Assert.Equal(bestScore, ScoreOf(tokens, committed, logits, stride), 5);
            Assert.True(Valid(matcher, state, tokens, remaining), string.Join(",", tokens));
            for (int i = 0; i < block; i++) if (committed[i] >= 0) Assert.Equal(committed[i], tokens[i]);
        }
        Assert.True(solved > 30 && refused > 0, $"{solved} solved, {refused} refused: the trials should exercise both");
    }

    [Fact]
    public void Sampling_draws_from_the_constrained_product_distribution()
    {
        var matcher = TokenConstraint.FromRegex("(ab|b)*a").For(Vocabulary);
        var program = new DingoProgram(3);
        using var sampler = new NodeSampler(1);
        sampler.Configure(new SamplingSettings(1.0, Seed: 7)); // draws come from the decode's one sampler
        program.Start(matcher, sampler);
        int stride = Pieces.Length;
        var committed = new long[] { -1, -1, -1 };
        var random = new Random(3);
        var logits = new float[3 * stride];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)(random.NextDouble() * 3 - 1.5);
        const double temperature = 0.8;
        // Exact: every valid assignment weighted by exp(sum of logits / T).
        var exact = new Dictionary<string, double>();
        Enumerate(committed, Pieces.Length, tokens =>
        {
            if (Valid(matcher, matcher.Start, tokens, 0))
                exact[string.Join(",", tokens)] = Math.Exp(ScoreOf(tokens, committed, logits, stride) / temperature);
        });
        double total = exact.Values.Sum();
        Assert.True(exact.Count > 4);
        const int draws = 20000;
        var counts = new Dictionary<string, int>();
        var drawn = new long[3];
        for (int d = 0; d < draws; d++)
        {
            Assert.True(program.Solve(matcher.Start, committed, logits, stride, 0, drawn, temperature));
            string key = string.Join(",", drawn);
            Assert.True(exact.ContainsKey(key), key);
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        // Chi-square over the outcomes (pooled where expected counts are small), at a generous bound for its dof.
        double chi = 0, pooledExpected = 0, pooledObserved = 0;
        int cells = 0;
        foreach (var (key, weight) in exact)
        {
            double expected = draws * weight / total;
            int observed = counts.GetValueOrDefault(key);
            if (expected < 5) { pooledExpected += expected; pooledObserved += observed; continue; }
            chi += (observed - expected) * (observed - expected) / expected;
            cells++;
        }
        if (pooledExpected > 0) { chi += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / pooledExpected; cells++; }
        Assert.True(chi < 3 * cells + 10, $"chi-square {chi:F1} over {cells} cells");
    }

    private static (double Score, long[]? Tokens) BruteForce(TokenMatcher matcher, int state, long[] committed, float[] logits, int stride, int remaining)
    {
        double best = double.NegativeInfinity;
        long[]? bestTokens = null;
        Enumerate(committed, Pieces.Length, tokens =>
        {
            if (!Valid(matcher, state, tokens, remaining)) return;
            double score = ScoreOf(tokens, committed, logits, stride);
            if (score > best) { best = score; bestTokens = (long[])tokens.Clone(); }
        });
        return (best, bestTokens);
    }

    private static void Enumerate(long[] committed, int vocab, Action<long[]> visit)
    {
        var tokens = (long[])committed.Clone();
        void Go(int i)
        {
            if (i == tokens.Length) { visit(tokens); return; }
            if (committed[i] >= 0) { Go(i + 1); return; }
            for (int t = 0; t < vocab; t++) { tokens[i] = t; Go(i + 1); }
            tokens[i] = -1;
        }
        Go(0);
    }

    private static double ScoreOf(long[] tokens, long[] committed, float[] logits, int stride)
    {
        double score = 0;
        for (int i = 0; i < tokens.Length; i++) if (committed[i] < 0) score += logits[i * stride + tokens[i]];
        return score;
    }

    // The block's tokens from `state` (an end token ends the text; only end tokens may follow), then some completion of
    // at most `remaining` tokens that the constraint accepts (found by trying every one).
    private static bool Valid(TokenMatcher matcher, int state, long[] tokens, int remaining)
    {
        foreach (long t in tokens)
        {
            if (state == TokenMatcher.Finished) { if (t != End) return false; continue; }
            state = matcher.Next(state, (int)t);
            if (state == TokenMatcher.Dead) return false;
        }
        return Completable(matcher, state, remaining);
    }

    private static bool Completable(TokenMatcher matcher, int state, int remaining)
    {
        if (state == TokenMatcher.Finished || matcher.IsAccepting(state)) return true;
        if (remaining == 0) return false;
        for (int t = 0; t < Pieces.Length; t++)
        {
            int next = matcher.Next(state, t);
            if (next >= 0 && Completable(matcher, next, remaining - 1)) return true;
        }
        return false;
    }
}
