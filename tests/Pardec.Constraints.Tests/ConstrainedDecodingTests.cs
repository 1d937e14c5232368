using System.Text;
using System.Text.Json;
using Json.Schema;
using Pardec.Dsl;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Acceptance;
using Pardec.Runtime.Primitives.Proposers;
using Pardec.Strategies;
using Pardec.Strategies.Tests;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pardec.Constraints.Tests;

/// <summary>
/// Constrained decoding on the shipped English models: every lossless strategy under a constraint equals constrained
/// greedy decoding computed the slow, obvious way (a full re-forward per token, the mask by walking every token's bytes
/// through the DFA), whether drafts are drawn under the mask or not; every output matches its constraint.
/// </summary>
public sealed class ConstrainedDecodingTests(ShippedModels models, ITestOutputHelper output) : IClassFixture<ShippedModels>
{
    private const int MaxNew = 40;

    public static readonly string[] Regexes =
    [
        @"(Yes|No), because [a-z]+( [a-z]+){2,8}\.",
        @"The (first|second|third) day: [A-Z][a-z]+( [a-z]+)*\.",
    ];

    public const string SmallSchema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":16},"age":{"type":"integer"},"good":{"type":"boolean"}},"required":["name","age","good"]}
        """;

    private TokenMatcher Regex(int i) => TokenConstraint.FromRegex(Regexes[i]).For(Shipped.Vocabulary);
    private static TokenMatcher Schema() => TokenConstraint.FromJsonSchema(SmallSchema).For(Shipped.Vocabulary);
    private static TokenMatcher Grammar() => TokenConstraint.FromGbnf(GbnfTests.Answer).For(Shipped.Vocabulary);

    /// <summary>A recursive grammar (nested parentheticals): the pushdown matcher.</summary>
    public const string Nested = """
        root     ::= sentence
        sentence ::= word (" " (word | "(" sentence ")"))* "."
        word     ::= [a-zA-Z]+
        """;

    private static TokenMatcher RecursiveGrammar() => TokenConstraint.FromGbnf(Nested).For(Shipped.Vocabulary);

    /// <summary>Constrained greedy decoding by full re-forwarding, masks by brute force: the reference.</summary>
    private int[] Reference(int[] prompt, TokenMatcher matcher, int maxNew)
    {
        using var _ = torch.no_grad();
        var model = models.Target.Model;
        var vocabulary = matcher.Vocabulary;
        var tokens = prompt.ToList();
        int state = 0;
        for (int i = 0; i < maxNew; i++)
        {
            using var scope = NewDisposeScope();
            int n = tokens.Count;
            var input = tensor(tokens.Select(t => (long)t).ToArray()).view(1, n);
            var positions = arange(n, dtype: ScalarType.Int64).view(1, n);
            var mask = ones(n, n, ScalarType.Bool).tril().view(1, 1, n, n);
            using var forward = model.Forward(input, positions, mask, null);
            var row = forward.Logits[0, n - 1].data<float>().ToArray();
            int best = -1;
            for (int t = 0; t < Math.Min(row.Length, vocabulary.Count); t++)
            {
                bool allowed = vocabulary.IsEnd(t) ? matcher.IsAccepting(state) : vocabulary.HasBytes(t) && matcher.WalkBytes(state, vocabulary.Bytes(t)) >= 0;
                if (allowed && (best < 0 || row[t] > row[best])) best = t;
            }
            if (best < 0) break;
            tokens.Add(best);
            if (vocabulary.IsEnd(best)) break;
            state = matcher.WalkBytes(state, vocabulary.Bytes(best));
        }
        return tokens.Skip(prompt.Length).ToArray();
    }

    private static GenerationOptions Options(TokenMatcher matcher, bool constrainProposals = true) =>
        new() { MaxNewTokens = MaxNew, Constraint = matcher, ConstrainProposals = constrainProposals };

    private static IEnumerable<GeneratedStrategy> LosslessCausal() => GeneratedStrategies.All.Where(s =>
    {
        var plan = PdecCompiler.Compile(s.Plan).Plans[0]; // a composed plan prints its engines after it
        return plan.Guarantee == Pardec.Dsl.Plan.Guarantee.Lossless && plan.Canvas.Kind == CanvasKind.Causal && plan.Canvas.Batch is null;
    });

    private static int[] WithoutEnd(int[] tokens, TokenMatcher matcher) =>
        tokens.Length > 0 && matcher.Vocabulary.IsEnd(tokens[^1]) ? tokens[..^1] : tokens;

    [Fact]
    public void Every_lossless_strategy_under_a_constraint_equals_constrained_greedy()
    {
        var cases = new (string Name, TokenMatcher Matcher, int[] Prompt)[]
        {
            ("regex 0", Regex(0), models.Prompts[0]),
            ("regex 1", Regex(1), models.Prompts[1]),
            ("schema", Schema(), models.Prompts[2]),
            ("grammar", Grammar(), models.Prompts[0]),
            ("recursive grammar", RecursiveGrammar(), models.Prompts[1]),
        };
        var references = cases.Select(c => WithoutEnd(Reference(c.Prompt, c.Matcher, MaxNew), c.Matcher)).ToArray();
        for (int i = 0; i < cases.Length; i++)
        {
            string text = Encoding.UTF8.GetString(Shipped.Vocabulary.Concatenate(references[i]));
            output.WriteLine($"{cases[i].Name}: {text}");
            Assert.True(references[i].Length > 4);
        }
        var strategies = new List<string>();
        foreach (var strategy in LosslessCausal())
        {
            using var decoder = strategy.Create(models.Set, null, 256);
            for (int i = 0; i < cases.Length; i++)
                foreach (bool constrainProposals in new[] { true, false })
                {
                    var result = decoder.Generate(cases[i].Prompt, Options(cases[i].Matcher, constrainProposals));
                    var tokens = result.Tokens.ToArray();
                    int at = Enumerable.Range(0, Math.Min(tokens.Length, references[i].Length)).FirstOrDefault(k => tokens[k] != references[i][k], -1);
                    Assert.True(tokens.SequenceEqual(references[i]),
                        $"{strategy.Name}, {cases[i].Name}, constrained proposals {constrainProposals}: differs from constrained greedy at token {at} ({tokens.Length} vs {references[i].Length} tokens)");
                }
            strategies.Add(strategy.Name);
        }
        output.WriteLine(string.Join(", ", strategies));
        Assert.Contains("SpeculativeGreedy", strategies);
        Assert.Contains("SequoiaTree", strategies);
        Assert.Contains("PromptLookup", strategies);
        Assert.True(strategies.Count >= 10);
    }

    /// <summary>A constrained decode that reaches the constraint's end stops there; its text matches; a schema's output validates.</summary>
    [Fact]
    public void Outputs_match_their_constraint_and_schema_outputs_validate()
    {
        using var decoder = GeneratedStrategies.All.Single(s => s.Name == "SpeculativeGreedy").Create(models.Set, null, 256);
        var schema = JsonSchema.FromText(SmallSchema);
        foreach (var prompt in models.Prompts)
        {
            var result = decoder.Generate(prompt, Options(Schema()) with { MaxNewTokens = 120 });
            string text = Encoding.UTF8.GetString(Shipped.Vocabulary.Concatenate(result.Tokens));
            output.WriteLine($"{result.StopReason}: {text}");
            Assert.Equal(StopReason.EndOfSequence, result.StopReason);
            Assert.True(schema.Evaluate(JsonDocument.Parse(text).RootElement).IsValid, text);
            var regex = decoder.Generate(prompt, Options(Regex(0)) with { MaxNewTokens = 120 });
            string regexText = Encoding.UTF8.GetString(Shipped.Vocabulary.Concatenate(regex.Tokens));
            Assert.True(TokenConstraint.FromRegex(Regexes[0]).Dfa.Matches(regexText) || regex.StopReason == StopReason.MaxNewTokens, regexText);
        }
    }

    [Fact]
    public void A_constraint_no_token_can_start_ends_with_a_clear_stop_reason()
    {
        // The shipped vocabulary without any token containing 'q' (byte fallback included): "q+" cannot start.
        var vocabulary = Shipped.Vocabulary;
        var bytes = Enumerable.Range(0, vocabulary.Count).Select(t => vocabulary.HasBytes(t) && !vocabulary.Bytes(t).Contains((byte)'q') ? vocabulary.Bytes(t).ToArray() : null).ToArray();
        var matcher = TokenConstraint.FromRegex("q+").For(new TokenVocabulary(bytes, vocabulary.EndTokens.ToArray()));
        using var decoder = GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models.Set, null, 256);
        var result = decoder.Generate(models.Prompts[0], Options(matcher));
        Assert.Equal(StopReason.Unsatisfiable, result.StopReason);
        Assert.Empty(result.Tokens);

        // A recursive grammar that needs a 'q' after its first '(': the decode writes what it can, then stops as
        // unsatisfiable instead of hanging or writing outside the grammar.
        var recursive = TokenConstraint.FromGbnf("root ::= \"(\" inner \")\"\ninner ::= \"q\" | \"q\" root").For(matcher.Vocabulary);
        Assert.False(recursive.IsRegular);
        var nested = decoder.Generate(models.Prompts[0], Options(recursive));
        Assert.Equal(StopReason.Unsatisfiable, nested.StopReason);
        Assert.NotEmpty(nested.Tokens);
        Assert.All(Encoding.UTF8.GetString(matcher.Vocabulary.Concatenate(nested.Tokens)), c => Assert.Equal('(', c));
    }

    /// <summary>
    /// Grammar-aware drafting against "draft unconstrained, mask at verification", and jump-forward: the same tokens
    /// (constrained greedy), fewer target forwards. The numbers are printed for the benchmark notes.
    /// </summary>
    [Fact]
    public void Grammar_aware_drafting_and_jump_forward_accept_more_per_step_with_the_same_tokens()
    {
        var matcher = Schema();
        var prompt = models.Prompts[1];
        var reference = WithoutEnd(Reference(prompt, matcher, 120), matcher);
        using var speculative = GeneratedStrategies.All.Single(s => s.Name == "SpeculativeGreedy").Create(models.Set, null, 256);
        var aware = speculative.Generate(prompt, Options(matcher, true) with { MaxNewTokens = 120 });
        var blind = speculative.Generate(prompt, Options(matcher, false) with { MaxNewTokens = 120 });
        Assert.Equal(reference, aware.Tokens.ToArray());
        Assert.Equal(reference, blind.Tokens.ToArray());

        // Hand-written loops (what a generated decoder writes): jump-forward alone, and beside the masked draft.
        using var _ = torch.no_grad();
        using var session = new CausalSession(models.Target.Model, 256, 1 + 4 + 12);
        using var draft = new DraftModelProposer(models.Draft.Model, 256, 17, length: 4, sample: false, stopBelow: 0, sampler: session.Sampler);
        var forced = new ForcedProposer(length: 8);
        var options = Options(matcher) with { MaxNewTokens = 120 };
        DecodeResult Run(params IProposer[] proposers)
        {
            session.Start(prompt, options);
            foreach (var p in proposers) p.Reset(session.Context);
            while (!session.Done)
            {
                session.BeginStep();
                for (int i = 0; i < proposers.Length; i++) proposers[i].Propose(session.Context, session.Tree, i);
                using (var verified = session.Verify(returnHidden: false))
                {
                    GreedyAcceptance.Accept(session.Tree, verified.Logits, session.Sampler, session.Outcome);
                    session.Commit(verified);
                }
                foreach (var p in proposers) p.Observe(session.Context, session.Tree, session.Outcome);
            }
            return session.Result();
        }
        var jumpAlone = Run(forced);
        int forcedAlone = forced.Proposed;
        Assert.Equal(reference, jumpAlone.Tokens.ToArray());
        var branchingForced = new ForcedProposer(length: 12, branching: 3);
        var jumpTree = Run(branchingForced);
        Assert.Equal(reference, jumpTree.Tokens.ToArray());
        var jump = Run(forced, draft);
        Assert.Equal(reference, jump.Tokens.ToArray());

        using var greedy = GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models.Set, null, 256);
        var plain = greedy.Generate(prompt, options);
        Assert.Equal(reference, plain.Tokens.ToArray());
        output.WriteLine($"schema, {reference.Length} tokens: greedy {plain.Stats.Steps} steps; draft masked {aware.Stats.MeanAcceptedPerStep:F2}/step " +
                         $"({aware.Stats.Steps} steps); draft unmasked {blind.Stats.MeanAcceptedPerStep:F2}/step ({blind.Stats.Steps} steps); " +
                         $"jump-forward alone {jumpAlone.Stats.MeanAcceptedPerStep:F2}/step ({jumpAlone.Stats.Steps} steps, {forcedAlone} forced tokens proposed, no draft model); " +
                         $"jump-forward tree (3 tokenisations per node, 12 nodes) {jumpTree.Stats.MeanAcceptedPerStep:F2}/step ({jumpTree.Stats.Steps} steps); " +
                         $"jump-forward + masked draft {jump.Stats.MeanAcceptedPerStep:F2}/step ({jump.Stats.Steps} steps)");
        Assert.True(aware.Stats.Steps < blind.Stats.Steps, $"masked drafting took {aware.Stats.Steps} steps, unmasked {blind.Stats.Steps}");
        // Jump-forward with no draft model beats plain constrained greedy; beside a masked draft it adds little, since a
        // draft drawn under the mask already proposes every forced token it reaches.
        Assert.True(jumpAlone.Stats.Steps < plain.Stats.Steps * 0.9, $"jump-forward alone took {jumpAlone.Stats.Steps} steps, greedy {plain.Stats.Steps}");
        Assert.True(jumpTree.Stats.Steps <= jumpAlone.Stats.Steps, $"the jump-forward tree took {jumpTree.Stats.Steps} steps, the chain {jumpAlone.Stats.Steps}");
        Assert.True(jump.Stats.Steps <= aware.Stats.Steps, $"jump-forward + draft took {jump.Stats.Steps} steps, the masked draft alone {aware.Stats.Steps}");
    }

    /// <summary>Masking allocates nothing per step: a constrained speculative decode's step costs what an unconstrained one does (≤ 32 B).</summary>
    [Fact]
    public void A_constrained_loop_allocates_nothing_per_step()
    {
        using var decoder = GeneratedStrategies.All.Single(s => s.Name == "SpeculativeGreedy").Create(models.Set, null, 256);
        var matcher = TokenConstraint.FromRegex(@"[a-z ,.]{0,400}").For(Shipped.Vocabulary);
        var prompt = models.Prompts[0];
        var options = new GenerationOptions { MaxNewTokens = 24, StopOnEos = false, Constraint = matcher };
        var (perStep, shortRun, longRun) = StepAllocation.Measure(decoder, prompt, options, longTokens: 120);
        output.WriteLine($"constrained SpeculativeGreedy: {perStep:F1} B/step ({shortRun.Stats.Steps} vs {longRun.Stats.Steps} steps)");
        Assert.True(perStep <= 32, $"{perStep:F0} B allocated per constrained step");
    }

    /// <summary>
    /// Under a recursive grammar the cached path allocates nothing either: the second identical decode reaches only
    /// configurations whose masks and transitions the first one made.
    /// </summary>
    [Fact]
    public void A_decode_under_a_recursive_grammar_allocates_nothing_per_step_once_its_states_are_known()
    {
        using var decoder = GeneratedStrategies.All.Single(s => s.Name == "SpeculativeGreedy").Create(models.Set, null, 256);
        var matcher = TokenConstraint.FromGbnf("root ::= text\ntext ::= ([a-z ,.] | \"(\" text \")\")*").For(Shipped.Vocabulary);
        Assert.False(matcher.IsRegular);
        var prompt = models.Prompts[0];
        var options = new GenerationOptions { MaxNewTokens = 24, StopOnEos = false, Constraint = matcher };
        var (perStep, shortRun, longRun) = StepAllocation.Measure(decoder, prompt, options, longTokens: 120);
        output.WriteLine($"recursive grammar, SpeculativeGreedy: {perStep:F1} B/step ({shortRun.Stats.Steps} vs {longRun.Stats.Steps} steps), {matcher.Pushdown!.StateCount} configurations");
        Assert.True(perStep <= 32, $"{perStep:F0} B allocated per constrained step");
    }
}
