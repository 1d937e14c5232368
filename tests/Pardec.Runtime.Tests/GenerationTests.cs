using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Tokenization;
using TorchSharp;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests;

public sealed class GenerationTests
{
    public GenerationTests() => Init();

    private static readonly int[] Prompt = [1, 40, 41, 42];

    [Fact]
    public void Greedy_generation_is_deterministic_and_equals_argmax_of_a_full_forward_over_its_own_output()
    {
        using var scope = torch.NewDisposeScope();
        using var model = LoadFixtureModel("llama_gqa");
        using var generator = new AutoregressiveGenerator(model, null, 64);
        var options = new GenerationOptions { MaxNewTokens = 24, StopOnEos = false };
        var first = generator.Generate(Prompt, options);
        var second = generator.Generate(Prompt, options);
        Assert.Equal(24, first.Tokens.Count);
        Assert.Equal(first.Tokens, second.Tokens);
        Assert.Equal(StopReason.MaxNewTokens, first.StopReason);
        Assert.Equal(24, first.Stats.TargetForwards); // the prefill yields token 1, each of 23 steps one more
        Assert.Equal(23, first.Stats.Steps);

        // Golden check: re-decode everything at once; each generated token is the argmax after its prefix.
        long[] all = [.. Prompt.Select(i => (long)i), .. first.Tokens.Select(i => (long)i)];
        using var output = model.Forward(Tokens(all), Positions(0, all.Length), CausalMask(0, all.Length), null);
        var argmax = output.Logits.argmax(-1)[0]; // [n]
        for (int i = 0; i < first.Tokens.Count; i++)
            Assert.Equal(first.Tokens[i], (int)argmax[Prompt.Length - 1 + i].item<long>());
    }

    [Fact]
    public void Seeded_sampling_is_reproducible_and_the_seed_matters()
    {
        using var model = LoadFixtureModel("llama_gqa"); // flat enough logits that sampling really varies
        using var generator = new AutoregressiveGenerator(model, null, 64);
        var options = new GenerationOptions { MaxNewTokens = 30, Temperature = 1.0, TopK = 40, TopP = 0.95, Seed = 7, StopOnEos = false };
        var a = generator.Generate(Prompt, options);
        var b = generator.Generate(Prompt, options);
        var c = generator.Generate(Prompt, options with { Seed = 8 });
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.NotEqual(a.Tokens, c.Tokens);
    }

    [Fact]
    public void Top_k_of_one_samples_exactly_the_greedy_tokens()
    {
        using var model = LoadFixtureModel("llama_tied");
        using var generator = new AutoregressiveGenerator(model, null, 64);
        var greedy = generator.Generate(Prompt, new GenerationOptions { MaxNewTokens = 12, StopOnEos = false });
        var topOne = generator.Generate(Prompt, new GenerationOptions { MaxNewTokens = 12, StopOnEos = false, Temperature = 0.7, TopK = 1, Seed = 3 });
        Assert.Equal(greedy.Tokens, topOne.Tokens);
    }

    [Fact]
    public void Sampler_distribution_respects_top_k_and_top_p()
    {
        using var scope = torch.NewDisposeScope();
        var logits = torch.tensor(new float[] { 4f, 3f, 2f, 1f, 0f });
        using var topK = new NodeSampler(1);
        topK.Configure(new SamplingSettings(1.0, TopK: 2, Seed: 0));
        var p = topK.RowProbabilities(new float[] { 4f, 3f, 2f, 1f, 0f });
        Assert.Equal(0f, p[2]);
        Assert.True(Math.Abs(p.ToArray().Sum() - 1f) < 1e-5f);
        Assert.Equal(0f, topK.Probabilities(logits.view(1, 5))[0, 2].item<float>());
        using var topP = new NodeSampler(1);
        topP.Configure(new SamplingSettings(1.0, TopP: 0.5, Seed: 0)); // p(4) = 0.64 >= 0.5: only the top token stays
        Assert.Equal(1f, topP.RowProbabilities(new float[] { 4f, 3f, 2f, 1f, 0f })[0], 5);
        Assert.Equal(1f, topP.Probabilities(logits.view(1, 5))[0, 0].item<float>(), 5);
    }

    [Fact]
    public void Generation_stops_at_eos_and_leaves_it_out()
    {
        using var model = LoadFixtureModel("llama_gqa");
        using var generator = new AutoregressiveGenerator(model, null, 64);
        var free = generator.Generate(Prompt, new GenerationOptions { MaxNewTokens = 10, StopOnEos = false });
        int eos = free.Tokens[4];
        var stopped = generator.Generate(Prompt, new GenerationOptions { MaxNewTokens = 10, EosTokenIds = [eos] });
        Assert.Equal(StopReason.EndOfSequence, stopped.StopReason);
        Assert.Equal(free.Tokens.TakeWhile(t => t != eos), stopped.Tokens);
    }

    [Fact]
    public async Task Stop_strings_cut_the_text_and_streaming_yields_the_same_text()
    {
        var tokenizer = TextTokenizer.FromSentencePiece(Path.Combine(Fixture("spm"), "tokenizer.model"));
        using var model = CausalLM.CreateRandom(SaveLoadTests.TinyConfig(vocab: 400), torch.CPU, ScalarType.Float32, seed: 5, std: 0.5);
        using var generator = new AutoregressiveGenerator(model, tokenizer, 96);
        var options = new GenerationOptions { MaxNewTokens = 40, Temperature = 1.0, Seed = 11, StopOnEos = false };
        var full = generator.Generate("hello world", options);
        // Random weights emit invalid UTF-8; a dangling partial character at the very end may be dropped.
        Assert.Equal(tokenizer.Decode(full.Tokens).TrimEnd('\uFFFD'), full.Text.TrimEnd('\uFFFD'));
        var streamed = new List<string>();
        await foreach (var piece in generator.StreamAsync("hello world", options)) streamed.Add(piece);
        Assert.Equal(full.Text, string.Concat(streamed));

        string stop = full.Text.Substring(full.Text.Length / 2, 3);
        var cut = generator.Generate("hello world", options with { StopStrings = [stop] });
        Assert.Equal(StopReason.StopString, cut.StopReason);
        Assert.Equal(full.Text[..full.Text.IndexOf(stop, StringComparison.Ordinal)], cut.Text);
    }

    [Fact]
    public void Generation_stops_when_the_cache_is_full()
    {
        using var model = LoadFixtureModel("llama_gqa");
        using var generator = new AutoregressiveGenerator(model, null, 10);
        var result = generator.Generate(Prompt, new GenerationOptions { MaxNewTokens = 50, StopOnEos = false });
        Assert.Equal(StopReason.CacheFull, result.StopReason);
        Assert.Equal(10 - Prompt.Length + 1, result.Tokens.Count); // the last token is sampled but never forwarded
        Assert.Equal(10, generator.Cache.Length);
    }

    [Fact]
    public void Cancellation_stops_generation_with_the_cancelled_reason()
    {
        using var model = LoadFixtureModel("llama_gqa");
        using var generator = new AutoregressiveGenerator(model, null, 64);
        using var cts = new CancellationTokenSource();
        int seen = 0;
        var result = generator.Generate(Prompt, new GenerationOptions { MaxNewTokens = 30, StopOnEos = false },
            (_, _) => { if (++seen == 5) cts.Cancel(); }, cts.Token);
        Assert.Equal(StopReason.Cancelled, result.StopReason);
        Assert.Equal(5, result.Tokens.Count);
    }
}

/// <summary>Runs alone: it counts this thread's live native tensors, which parallel tests on other threads do not touch.</summary>
[CollectionDefinition(nameof(NativeMemoryCollection), DisableParallelization = true)]
public sealed class NativeMemoryCollection { }

[Collection(nameof(NativeMemoryCollection))]
public sealed class NativeMemoryTests
{
    public NativeMemoryTests() => Init();

    [Fact]
    public void Live_native_tensors_stay_flat_over_1000_decode_steps()
    {
        var config = SaveLoadTests.TinyConfig(maxPositions: 1100);
        using var model = CausalLM.CreateRandom(config, torch.CPU, ScalarType.Float32, seed: 1);
        using var generator = new AutoregressiveGenerator(model, null, 1100);
        long atStep10 = 0, atStep1000 = 0;
        int step = 0;
        var result = generator.Generate([1, 2, 3], new GenerationOptions { MaxNewTokens = 1000, StopOnEos = false }, (_, _) =>
        {
            step++;
            if (step == 10) atStep10 = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            if (step == 1000) atStep1000 = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        });
        Assert.Equal(1000, result.Tokens.Count);
        Assert.Equal(atStep10, atStep1000);
    }
}
