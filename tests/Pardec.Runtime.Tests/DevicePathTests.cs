using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Acceptance;
using TorchSharp;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests;

/// <summary>
/// Decode primitives run one algorithm over host rows; <see cref="HostRows"/> alone decides whether rows are read in
/// place (dense float32 on the CPU) or copied once — what every CUDA tensor takes. A strided or float64 CPU tensor
/// takes that copy path, so these tests run the CUDA-shaped path here and require the in-place path's exact results.
/// </summary>
public sealed class DevicePathTests
{
    public DevicePathTests() => Init();

    // The same values as a strided view (not dense: copied by HostRows) and as float64 (copied and converted).
    private static Tensor[] CopiedForms(Tensor dense) => [dense.t().contiguous().t(), dense.to(ScalarType.Float64)];

    [Theory]
    [InlineData(0.0, 0, 1.0)]
    [InlineData(1.0, 0, 1.0)]
    [InlineData(0.8, 7, 0.9)]
    public void Picks_from_copied_rows_equal_picks_read_in_place(double temperature, int topK, double topP)
    {
        using var scope = NewDisposeScope();
        var logits = randn(new long[] { 6, 40 }, generator: new Generator(21)) * 2; // [n, vocab] dense float32
        var settings = new SamplingSettings(temperature, topK, topP, Seed: 5);
        using var inPlace = new NodeSampler(6);
        inPlace.Configure(settings);
        Assert.True(HostRows.InPlace(logits));
        var expected = new List<long>();
        for (int step = 0; step < 5; step++) expected.AddRange(inPlace.Pick(logits).ToArray());
        foreach (var copied in CopiedForms(logits))
        {
            Assert.False(HostRows.InPlace(copied));
            using var sampler = new NodeSampler(6);
            sampler.Configure(settings);
            var picks = new List<long>();
            for (int step = 0; step < 5; step++) picks.AddRange(sampler.Pick(copied).ToArray());
            Assert.Equal(expected, picks);
        }
    }

    [Fact]
    public void Rows_masked_on_the_host_are_written_back_into_a_copied_tensor()
    {
        // A constraint masks verified logits in place on the host; on a device the change must reach the tensor.
        using var scope = NewDisposeScope();
        using var rows = new HostRows();
        var dense = randn(new long[] { 3, 8 }, generator: new Generator(2));
        foreach (var copied in CopiedForms(dense))
        {
            var span = rows.Read(copied);
            span[5] = float.NegativeInfinity;
            rows.WriteBack(copied);
            Assert.Equal(double.NegativeInfinity, copied[0, 5].to(ScalarType.Float64).item<double>());
            Assert.Equal(dense[2, 7].item<float>(), copied[2, 7].to(ScalarType.Float32).item<float>());
        }
    }

    [Fact]
    public void Typical_and_rejection_acceptance_decide_the_same_on_copied_rows()
    {
        using var scope = NewDisposeScope();
        const int Vocab = 30, Nodes = 5;
        var generator = new Generator(3);
        for (int trial = 0; trial < 20; trial++)
        {
            var logits = randn(new long[] { Nodes, Vocab }, generator: generator) * 2;
            var q = randn(new long[] { Nodes, Vocab }, generator: generator).softmax(-1);
            var tree = new CandidateTree(Nodes);
            tree.Reset(1);
            int parent = 0;
            for (int i = 1; i < Nodes; i++)
            {
                int token = (int)logits[i - 1].argmax().item<long>() ^ (trial % 3 == 0 ? i : 0);
                parent = tree.AddChild(parent, token % Vocab, 0, q[i, token % Vocab].item<float>());
            }
            var expected = Decide(tree, logits, q);
            foreach (var copied in CopiedForms(logits))
                Assert.Equal(expected, Decide(tree, copied, q.to(ScalarType.Float64)));
        }
    }

    // Typical acceptance's path and next token, and rejection sampling's accepted count and next token (seeded).
    private static (int, int, int, int) Decide(CandidateTree tree, Tensor logits, Tensor q)
    {
        using var sampler = new NodeSampler(tree.Capacity);
        sampler.Configure(new SamplingSettings(0.9, Seed: 11));
        var outcome = new StepOutcome(tree.Capacity);
        using var typical = new TypicalAcceptance(0.3, 0.6, tree.Capacity);
        typical.Accept(tree, logits, sampler, outcome);
        var typicalResult = (outcome.AcceptedCount, outcome.NextToken);
        using var rejection = new RejectionAcceptance(tree.Capacity);
        rejection.Accept(tree, logits, q, sampler, outcome);
        return (typicalResult.AcceptedCount, typicalResult.NextToken, outcome.AcceptedCount, outcome.NextToken);
    }

    [Fact]
    public void Plain_sampling_gives_the_same_tokens_in_the_baseline_generator_and_in_a_session_loop()
    {
        // One sampler for every decoder: a seed means one text, whichever loop draws it.
        using var model = LoadFixtureModel("llama_gqa"); // flat enough logits that sampling really varies
        using var generator = new AutoregressiveGenerator(model, null, 64);
        var options = new GenerationOptions { MaxNewTokens = 20, Temperature = 1.0, TopK = 40, TopP = 0.95, Seed = 7, StopOnEos = false };
        var baseline = generator.Generate(Prompt, options).Tokens;

        using var session = new CausalSession(model, 64, 1);
        session.Start(Prompt, options);
        while (!session.Done)
        {
            session.BeginStep();
            using var verified = session.Verify(returnHidden: false);
            GreedyAcceptance.Accept(session.Tree, verified.Logits, session.Sampler, session.Outcome);
            session.Commit(verified);
        }
        Assert.Equal(baseline, session.Result().Tokens);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Draft_model_speculation_decodes_the_same_tokens_on_the_simulated_device_path(bool sampled)
    {
        using var target = LoadFixtureModel("llama_gqa");
        // Sampled, the target drafts for itself (q = p: every draft is accepted); greedy, the other fixture drafts.
        using var other = LoadFixtureModel("llama_tied");
        var draft = sampled ? target : other;
        var options = new GenerationOptions { MaxNewTokens = 24, StopOnEos = false, Temperature = sampled ? 0.9 : 0, Seed = 3 };
        var expected = Speculate(target, draft, options, simulateDevice: false);
        Assert.True(expected.Accepted > 0, "the draft should get some tokens accepted");
        Assert.Equal(expected, Speculate(target, draft, options, simulateDevice: true));
    }

    [Fact]
    public void Draft_tree_speculation_decodes_the_same_tokens_on_the_simulated_device_path()
    {
        using var target = LoadFixtureModel("llama_gqa");
        using var draft = LoadFixtureModel("llama_tied");
        var options = new GenerationOptions { MaxNewTokens = 24, StopOnEos = false };
        foreach (var shape in new[] { null, new Pardec.Runtime.Primitives.Proposers.DraftTreeShape([-1, 0, 0, 1, 1, 3], [0, 0, 1, 0, 1, 0]) })
        {
            var expected = SpeculateTree(target, draft, shape, options, simulateDevice: false);
            Assert.True(expected.Accepted > 0, "the draft should get some tokens accepted");
            Assert.Equal(expected, SpeculateTree(target, draft, shape, options, simulateDevice: true));
        }
    }

    // A static (shape) or dynamic (EAGLE-2 beam, depth 3, top 2) draft tree, verified greedily.
    private static (string Tokens, int Steps, int Accepted) SpeculateTree(ICausalLM target, ICausalLM draft,
        Pardec.Runtime.Primitives.Proposers.DraftTreeShape? shape, GenerationOptions options, bool simulateDevice)
    {
        HostRows.SimulateDevice = simulateDevice;
        try
        {
            using var proposer = shape is null
                ? new Pardec.Runtime.Primitives.Proposers.DraftTreeProposer(draft, 96, 3, 2)
                : new Pardec.Runtime.Primitives.Proposers.DraftTreeProposer(draft, 96, shape);
            using var session = new CausalSession(target, 96, proposer.Capacity);
            session.Start(Prompt, options);
            proposer.Reset(session.Context);
            while (!session.Done)
            {
                session.BeginStep();
                proposer.Propose(session.Context, session.Tree, 0);
                using (var verified = session.Verify(returnHidden: false))
                {
                    GreedyAcceptance.Accept(session.Tree, verified.Logits, session.Sampler, session.Outcome);
                    session.Commit(verified);
                }
                proposer.Observe(session.Context, session.Tree, session.Outcome);
            }
            return (string.Join(",", session.Result().Tokens), session.Steps, session.AcceptedDraftTokens);
        }
        finally { HostRows.SimulateDevice = false; }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Medusa_heads_propose_and_decode_the_same_on_the_simulated_device_path(bool sharedLmHead)
    {
        // The heads' compiled call writes logits the proposer ranks over host rows (copied on a device), and the root's
        // hidden row is copied beside the verified hidden states: the proposals, not only the greedy text, must agree.
        using var target = LoadFixtureModel("llama_gqa");
        using var heads = new MedusaHeads(3, target.Config.HiddenSize, target.Config.VocabSize, sharedLmHead);
        using (no_grad())
        {
            var generator = new Generator(5);
            foreach (var (_, p) in heads.named_parameters()) p.normal_(0, 0.3, generator);
        }
        heads.eval();
        var options = new GenerationOptions { MaxNewTokens = 20, StopOnEos = false };
        var expected = SpeculateMedusa(target, heads, options, simulateDevice: false);
        Assert.Equal(expected, SpeculateMedusa(target, heads, options, simulateDevice: true));
    }

    // A Medusa tree (ranks 0..2 of each head) verified greedily; returns the text and every step's proposed tree.
    private static string SpeculateMedusa(ICausalLM target, MedusaHeads heads, GenerationOptions options, bool simulateDevice)
    {
        HostRows.SimulateDevice = simulateDevice;
        try
        {
            int[] parents = [-1, 0, 0, 0, 1, 1, 2, 4], depths = [0, 1, 1, 1, 2, 2, 2, 3], choices = [0, 0, 1, 2, 0, 1, 0, 0];
            using var proposer = new Pardec.Runtime.Primitives.Proposers.MedusaProposer(heads, target, parents, depths, choices);
            using var session = new CausalSession(target, 96, parents.Length);
            var proposed = new System.Text.StringBuilder();
            session.Start(Prompt, options);
            proposer.Reset(session.Context);
            while (!session.Done)
            {
                session.BeginStep();
                proposer.Propose(session.Context, session.Tree, 0);
                proposed.Append(string.Join(",", session.Tree.Tokens.ToArray())).Append(';');
                using (var verified = session.Verify(returnHidden: true))
                {
                    GreedyAcceptance.Accept(session.Tree, verified.Logits, session.Sampler, session.Outcome);
                    session.Commit(verified);
                }
                proposer.Observe(session.Context, session.Tree, session.Outcome);
            }
            return string.Join(",", session.Result().Tokens) + " | " + proposed;
        }
        finally { HostRows.SimulateDevice = false; }
    }

    [Fact]
    public void Batched_speculation_decodes_the_same_tokens_on_the_simulated_device_path()
    {
        using var target = LoadFixtureModel("llama_gqa");
        using var draft = LoadFixtureModel("llama_tied");
        int[][] prompts = [[1, 40, 41, 42], [1, 7], [1, 9, 10, 11, 12, 13, 9, 10]];
        var options = new GenerationOptions { MaxNewTokens = 20, StopOnEos = false };
        var expected = SpeculateBatch(target, draft, prompts, options, simulateDevice: false);
        Assert.Equal(expected, SpeculateBatch(target, draft, prompts, options, simulateDevice: true));
    }

    // A batched decoder's loop: every row's draft chain verified in one target forward, rows accepting their own lengths.
    private static string SpeculateBatch(ICausalLM target, ICausalLM draft, int[][] prompts, GenerationOptions options, bool simulateDevice)
    {
        HostRows.SimulateDevice = simulateDevice;
        try
        {
            using var session = new Pardec.Runtime.Primitives.Batched.BatchedCausalSession(target, prompts.Length, 96, 3);
            using var proposer = new Pardec.Runtime.Primitives.Batched.BatchedDraftChainProposer(draft, prompts.Length, 96, 3);
            using var accept = new Pardec.Runtime.Primitives.Batched.BatchedGreedyAcceptance(prompts.Length, 3);
            session.Start(prompts, options);
            proposer.Reset(session.Context);
            while (!session.Done)
            {
                session.BeginStep();
                proposer.Propose(session.Context, session.Chain);
                using (var verified = session.Verify()) accept.Accept(session.Chain, verified.Logits, session.Outcome);
                session.Commit();
                proposer.Observe(session.Context, session.Outcome);
            }
            var rows = Enumerable.Range(0, prompts.Length).Select(b => string.Join(",", session.Context.Generated(b).ToArray()));
            return string.Join(" | ", rows) + $" in {session.Steps} steps, {proposer.DraftForwards} draft forwards";
        }
        finally { HostRows.SimulateDevice = false; }
    }

    // Draft-model speculation written out as a generated decoder's loop: greedy verification, or rejection sampling
    // over a sampled draft. With simulateDevice every buffer and read takes the path a CUDA device takes.
    // Returns the text and the steps and accepted drafts (greedy text alone would not show a broken draft).
    internal static (string Tokens, int Steps, int Accepted) Speculate(ICausalLM target, ICausalLM draft, GenerationOptions options, bool simulateDevice)
    {
        const int Gamma = 4;
        HostRows.SimulateDevice = simulateDevice;
        try
        {
            using var session = new CausalSession(target, 96, Gamma + 1);
            using var proposer = new Pardec.Runtime.Primitives.Proposers.DraftModelProposer(draft, 96, Gamma + 1, Gamma,
                sample: !options.IsGreedy, stopBelow: 0, session.Sampler);
            using var rejection = new RejectionAcceptance(Gamma + 1);
            session.Start(Prompt, options);
            proposer.Reset(session.Context);
            while (!session.Done)
            {
                session.BeginStep();
                proposer.Propose(session.Context, session.Tree, 0);
                using (var verified = session.Verify(returnHidden: false))
                {
                    if (options.IsGreedy) GreedyAcceptance.Accept(session.Tree, verified.Logits, session.Sampler, session.Outcome);
                    else rejection.Accept(session.Tree, verified.Logits, proposer.Distributions, session.Sampler, session.Outcome);
                    session.Commit(verified);
                }
                proposer.Observe(session.Context, session.Tree, session.Outcome);
            }
            return (string.Join(",", session.Result().Tokens), session.Steps, session.AcceptedDraftTokens);
        }
        finally { HostRows.SimulateDevice = false; }
    }

    private static readonly int[] Prompt = [1, 40, 41, 42];
}
