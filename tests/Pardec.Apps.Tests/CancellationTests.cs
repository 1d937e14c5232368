using Microsoft.Extensions.AI;
using Pardec.Extensions.AI;
using Pardec.Runtime.Decoding;
using Pardec.Strategies;
using Xunit;

namespace Pardec.Apps.Tests;

/// <summary>
/// Cancelling mid-generation: the decoder returns promptly with <see cref="StopReason.Cancelled"/> (the chat client
/// throws <see cref="OperationCanceledException"/>), the decoder and model stay usable, and no tensor leaks.
/// </summary>
[Collection(nameof(AppCollection))]
public sealed class CancellationTests(AppModels models)
{
    private const string Prompt = "And God said, Let there be light: and there was light.";

    private int[] PromptIds => models.Tokenizer.Encode(Prompt, addBos: true);

    // EOS off so the uncancelled decode runs its whole budget: a cancelled one can only be shorter because of the token.
    private static GenerationOptions Long => new() { MaxNewTokens = 200, StopOnEos = false };

    [Theory]
    [InlineData("PromptLookup")]
    [InlineData("SpeculativeGreedy")]
    public void Cancelling_from_an_observer_stops_at_that_step_and_the_decoder_stays_usable(string name)
    {
        long baseline = AppModels.Baseline();
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        var set = new Pardec.Runtime.Interpretation.ModelSet().Add("target", models.Target.Model).Add("draft", models.Draft.Model);

        int[] fresh;
        using (var reference = strategy.Create(set, null, 512)) fresh = reference.Generate(PromptIds, Long).Tokens.ToArray();
        Assert.Equal(200, fresh.Length);

        using (var decoder = strategy.Create(set, null, 512))
        {
            using var cts = new CancellationTokenSource();
            int lastStep = 0;
            var observer = new CancelAt(3, cts, step => lastStep = step);
            var cancelled = decoder.Generate(PromptIds, Long, observer, cts.Token);
            Assert.Equal(StopReason.Cancelled, cancelled.StopReason);
            Assert.Equal(3, lastStep); // no step ran after the one that cancelled
            Assert.True(cancelled.Tokens.Count < fresh.Length);
            Assert.Equal(fresh.Take(cancelled.Tokens.Count), cancelled.Tokens); // what was committed is right

            var again = decoder.Generate(PromptIds, Long);
            Assert.Equal(StopReason.MaxNewTokens, again.StopReason);
            Assert.Equal(fresh, again.Tokens);
        }
        Assert.Equal(baseline, AppModels.Live());
    }

    [Fact]
    public async Task Cancelling_after_a_delay_returns_promptly()
    {
        long baseline = AppModels.Baseline();
        using (var decoder = new PromptLookupDecoder(models.Target.Model, null, 2048))
        {
            // Each step is slowed to ~5 ms, so the full 1500 tokens would take seconds; the token fires after 100 ms.
            var slow = new Slow(TimeSpan.FromMilliseconds(5));
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
            var result = await Task.Run(() => decoder.Generate(PromptIds, new GenerationOptions { MaxNewTokens = 1500, StopOnEos = false }, slow, cts.Token));
            Assert.Equal(StopReason.Cancelled, result.StopReason);
            Assert.True(result.Tokens.Count < 1500);

            var fresh = new PromptLookupDecoder(models.Target.Model);
            using (fresh) Assert.Equal(fresh.Generate(PromptIds, Long).Tokens, decoder.Generate(PromptIds, Long).Tokens);
        }
        Assert.Equal(baseline, AppModels.Live());
    }

    [Fact]
    public async Task Chat_client_throws_OperationCanceledException_and_answers_the_next_request_like_a_fresh_client()
    {
        long baseline = AppModels.Baseline();
        var messages = new[] { new ChatMessage(ChatRole.User, Prompt) };
        var options = new ChatOptions { MaxOutputTokens = 64 };
        string expected;
        using (IChatClient fresh = new PardecChatClient(new PromptLookupDecoder(models.Target.Model), models.Tokenizer, new() { OwnsDecoder = true }))
            expected = (await fresh.GetResponseAsync(messages, options)).Text;

        using var cts = new CancellationTokenSource();
        int steps = 0;
        var decoder = new SteppingDecoder(new PromptLookupDecoder(models.Target.Model), step => { steps = step; if (step == 2) cts.Cancel(); });
        using (IChatClient client = new PardecChatClient(decoder, models.Tokenizer, new() { OwnsDecoder = true }))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync(messages, options, cts.Token));
            Assert.Equal(2, steps);

            // Streaming: cancel once the first piece arrives.
            using var streamCts = new CancellationTokenSource();
            var pieces = new List<string>();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                await foreach (var update in client.GetStreamingResponseAsync(messages, options, streamCts.Token))
                {
                    pieces.Add(update.Text);
                    streamCts.Cancel();
                }
            });
            Assert.NotEmpty(pieces);
            Assert.True(string.Concat(pieces).Length < expected.Length);

            Assert.Equal(expected, (await client.GetResponseAsync(messages, options)).Text);
        }
        Assert.Equal(baseline, AppModels.Live());
    }

    private sealed class CancelAt(int step, CancellationTokenSource cts, Action<int> seen) : IDecodeObserver
    {
        public bool OnStep(in DecodeStepView view)
        {
            seen(view.Step);
            if (view.Step == step) cts.Cancel();
            return true;
        }
    }

    private sealed class Slow(TimeSpan delay) : IDecodeObserver
    {
        public bool OnStep(in DecodeStepView view) { Thread.Sleep(delay); return true; }
    }
}
