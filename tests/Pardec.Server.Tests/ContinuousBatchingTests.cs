using Pardec.Runtime.Decoding;
using Pardec.Server.Batching;
using Pardec.Server.Generation;
using Xunit;

namespace Pardec.Server.Tests;

/// <summary>
/// The batch engine without HTTP: requests that join a running batch at different steps, with prompts longer than a
/// prefill chunk, budgets of their own and holes left by requests that finished, each get exactly the tokens a solo
/// greedy decode gives them — for plain decoding and for draft-model speculation.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ContinuousBatchingTests(ServerModels models)
{
    private static readonly string[] Prompts =
    [
        "In the beginning God created the heaven and the earth.",
        "And the LORD said unto Moses,",
        "A fool and his money",
        "The hacker culture, as the jargon file tells it, began at MIT where the model railroad club had built a system of relays and switches that",
        "Blessed are the meek:",
        "Q: What is the difference between a duck?",
        "And it came to pass, when men began to multiply on the face of the earth, and daughters were born unto them, that the sons of God saw",
        "Love is",
    ];

    [Theory]
    [InlineData(0)] // plain decoding
    [InlineData(4)] // greedy draft-model speculation
    public async Task Requests_joining_and_leaving_a_running_batch_get_their_solo_greedy_tokens(int draftLength)
    {
        // A short context makes the rows' caches fill and compact several times during the run.
        var options = new BatchEngineOptions(models.Target.Model, draftLength > 0 ? models.Draft.Model : null, null, draftLength,
                                             Batch: 3, ContextLength: 96, PrefillChunk: 8);
        using var engine = new ContinuousBatchEngine("test", options, models.Tokenizer, maxQueue: 32);
        var requests = new List<(GenerationRequest Request, int[] Prompt, int MaxTokens)>();
        for (int i = 0; i < 2 * Prompts.Length; i++)
        {
            var prompt = models.Tokenizer.Encode(Prompts[i % Prompts.Length], addBos: true);
            int maxTokens = Math.Min(12 + 5 * (i % 7), 96 - prompt.Length);
            var request = new GenerationRequest("r" + i, prompt, new GenerationOptions { MaxNewTokens = maxTokens }, CancellationToken.None);
            Assert.Equal(Admission.Accepted, engine.Submit(request));
            requests.Add((request, prompt, maxTokens));
            await Task.Delay(i % 3 == 0 ? 15 : 0); // some join mid-run, some together
        }
        using var solo = ServerModels.Strategy("Greedy").Create(models.Models, null, models.Context);
        foreach (var (request, prompt, maxTokens) in requests)
        {
            var finished = await Outcome(request);
            var expected = solo.Generate(prompt, new GenerationOptions { MaxNewTokens = maxTokens });
            Assert.Equal(expected.Tokens, finished.Tokens);
            Assert.Equal(expected.StopReason, finished.Reason);
            Assert.Equal(models.Tokenizer.Decode(expected.Tokens), finished.Text);
            if (draftLength > 0)
            {
                Assert.True(finished.Usage.DraftedTokens > 0);
                Assert.InRange(finished.Usage.AcceptedTokens, 0, finished.Usage.DraftedTokens);
                Assert.True(finished.Usage.Steps < finished.Tokens.Count, "speculation takes fewer steps than tokens");
            }
            else Assert.Equal(0, finished.Usage.DraftedTokens);
        }
        Assert.True(engine.Compactions > 0, "the run should have compacted the rows' caches");
        Assert.Equal(0, engine.Running);
    }

    [Fact]
    public async Task A_cancelled_request_leaves_its_row_at_the_next_step_and_the_others_are_unaffected()
    {
        var options = new BatchEngineOptions(models.Target.Model, null, null, 0, Batch: 2, ContextLength: models.Context);
        using var engine = new ContinuousBatchEngine("test", options, models.Tokenizer, maxQueue: 4);
        using var cancel = new CancellationTokenSource();
        var prompt = models.Tokenizer.Encode(Prompts[0], addBos: true);
        var doomed = new GenerationRequest("doomed", prompt, new GenerationOptions { MaxNewTokens = 150, StopOnEos = false }, cancel.Token);
        var other = new GenerationRequest("other", models.Tokenizer.Encode(Prompts[1], true), new GenerationOptions { MaxNewTokens = 40 }, CancellationToken.None);
        engine.Submit(doomed);
        engine.Submit(other);
        await foreach (var e in doomed.Events.ReadAllAsync()) if (e is TextDelta) break; // it is decoding
        cancel.Cancel();
        var cancelled = await Outcome(doomed);
        Assert.Equal(StopReason.Cancelled, cancelled.Reason);
        Assert.True(cancelled.Tokens.Count < 150);
        using var solo = ServerModels.Strategy("Greedy").Create(models.Models, null, models.Context);
        Assert.Equal(solo.Generate(models.Tokenizer.Encode(Prompts[1], true), new GenerationOptions { MaxNewTokens = 40 }).Tokens, (await Outcome(other)).Tokens);
        Assert.Equal(0, engine.Running);
    }

    [Fact]
    public async Task A_sampled_request_gives_the_same_tokens_for_the_same_seed_whatever_shares_its_batch()
    {
        var options = new BatchEngineOptions(models.Target.Model, models.Draft.Model, null, 3, Batch: 4, ContextLength: models.Context);
        using var engine = new ContinuousBatchEngine("test", options, models.Tokenizer, maxQueue: 8);
        var sampled = new GenerationOptions { MaxNewTokens = 30, Temperature = 0.9, TopP = 0.95, Seed = 1234 };
        var alone = new GenerationRequest("alone", models.Tokenizer.Encode(Prompts[2], true), sampled, CancellationToken.None);
        engine.Submit(alone);
        var first = await Outcome(alone);
        var crowd = Enumerable.Range(0, 3).Select(i => new GenerationRequest("c" + i, models.Tokenizer.Encode(Prompts[3 + i], true),
            new GenerationOptions { MaxNewTokens = 20 }, CancellationToken.None)).ToList();
        var again = new GenerationRequest("again", models.Tokenizer.Encode(Prompts[2], true), sampled, CancellationToken.None);
        foreach (var r in crowd) engine.Submit(r);
        engine.Submit(again);
        Assert.Equal(first.Tokens, (await Outcome(again)).Tokens);
        Assert.Equal(0, first.Usage.DraftedTokens); // sampled rows do not draft
        foreach (var r in crowd) await Outcome(r);
    }

    [Fact]
    public async Task A_long_prompt_joins_in_chunks_so_running_rows_keep_streaming_and_a_later_short_request_starts_first()
    {
        const int chunk = 8;
        var options = new BatchEngineOptions(models.Target.Model, null, null, 0, Batch: 3, ContextLength: models.Context, PrefillChunk: chunk);
        using var engine = new ContinuousBatchEngine("test", options, models.Tokenizer, maxQueue: 4);
        var running = new GenerationRequest("running", models.Tokenizer.Encode(Prompts[1], true),
                                            new GenerationOptions { MaxNewTokens = 120, StopOnEos = false }, CancellationToken.None);
        engine.Submit(running);
        await foreach (var e in running.Events.ReadAllAsync()) if (e is TextDelta) break; // decoding
        var longPrompt = models.Tokenizer.Encode(string.Join(' ', Prompts.Take(7)), true);
        Assert.True(longPrompt.Length > 12 * chunk, $"the long prompt has {longPrompt.Length} tokens");
        long stepsBefore = engine.Steps;
        var longRequest = new GenerationRequest("long", longPrompt, new GenerationOptions { MaxNewTokens = 4 }, CancellationToken.None);
        var shortRequest = new GenerationRequest("short", models.Tokenizer.Encode(Prompts[7], true), new GenerationOptions { MaxNewTokens = 4 }, CancellationToken.None);
        engine.Submit(longRequest);
        engine.Submit(shortRequest);
        var longDone = await Outcome(longRequest);
        var shortDone = await Outcome(shortRequest);
        // The long prompt took ceil((n - 1) / chunk) prefill steps, during which the short one was admitted, prefilled and answered.
        Assert.True(shortDone.Usage.TimeToFirstToken < longDone.Usage.TimeToFirstToken,
                    $"short TTFT {shortDone.Usage.TimeToFirstToken}, long TTFT {longDone.Usage.TimeToFirstToken}");
        Assert.True(engine.Steps - stepsBefore >= (longPrompt.Length - 1 + chunk - 1) / chunk);
        var runningDone = await Outcome(running);
        Assert.Equal(120, runningDone.Tokens.Count); // one token every step, prefill steps included
        using var solo = ServerModels.Strategy("Greedy").Create(models.Models, null, models.Context);
        Assert.Equal(solo.Generate(longPrompt, new GenerationOptions { MaxNewTokens = 4 }).Tokens, longDone.Tokens);
        Assert.Equal(solo.Generate(running.Prompt, new GenerationOptions { MaxNewTokens = 120, StopOnEos = false }).Tokens, runningDone.Tokens);
    }

    [Fact]
    public async Task With_auto_speculation_a_draft_that_is_never_right_stops_drafting_and_the_tokens_stay_greedy()
    {
        // The code-trained draft guesses English badly: drafting costs draft forwards and a wider verification for
        // (almost) no accepted tokens, so the measured step times turn it off. Greedy verification keeps the tokens.
        using var codeDraft = Runtime.Loading.PretrainedModel.Load(Path.Combine(ServerModels.RepoRoot(), "models", "code", "draft"), TorchSharp.torch.CPU);
        codeDraft.Model.eval();
        var options = new BatchEngineOptions(models.Target.Model, codeDraft.Model, null, 6, Batch: 2, ContextLength: models.Context,
                                             Speculation: SpeculationMode.Auto);
        using var engine = new ContinuousBatchEngine("test", options, models.Tokenizer, maxQueue: 8);
        using var solo = ServerModels.Strategy("Greedy").Create(models.Models, null, models.Context);
        var generation = new GenerationOptions { MaxNewTokens = 150, StopOnEos = false };
        var requests = Prompts.Take(2).Select((p, i) => new GenerationRequest("r" + i, models.Tokenizer.Encode(p, true), generation, CancellationToken.None)).ToList();
        foreach (var r in requests) engine.Submit(r);
        foreach (var r in requests)
        {
            var finished = await Outcome(r);
            Assert.Equal(solo.Generate(r.Prompt, generation).Tokens, finished.Tokens);
        }
        Assert.True(engine.DraftingSteps < engine.Steps / 3, $"drafted in {engine.DraftingSteps} of {engine.Steps} steps");
        Assert.True(engine.DraftingSteps >= 3, "it tried drafting before deciding");
    }

    internal static async Task<Finished> Outcome(GenerationRequest request)
    {
        Finished? finished = null;
        await foreach (var e in request.Events.ReadAllAsync().WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token))
            if (e is Finished f) finished = f;
        return finished ?? throw new InvalidOperationException("no outcome");
    }
}
