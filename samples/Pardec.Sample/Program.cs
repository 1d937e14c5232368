// Pardec in an app: load a model once, run two strategies (one declared in strategies.pdec, one as a [Strategy] class
// in Lookup.cs; the package's source generator compiles both into decoders), check that the lossless one reproduces
// the baseline, then chat through IChatClient.
//
//   dotnet run -- [model directory]      (default: <repo>/models/english/target)
//
// Exit code: 0 on success, 1 when the lossless strategy does not reproduce the baseline, 2 on a bad argument.

using System.Diagnostics;
using Microsoft.Extensions.AI;
using Pardec.Extensions.AI;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Runtime.Tokenization;
using Pardec.Sample.Strategies;
using TorchSharp;
using static TorchSharp.torch;

torch.set_num_threads(1); // a shared 2-core machine: one thread is fastest and reproducible

string modelDirectory = args.Length > 0 ? args[0] : DefaultModelDirectory();
CausalLMBase model;
TextTokenizer tokenizer;
bool showText = true; // random weights write random GPT-2 tokens: counts only
if (File.Exists(Path.Combine(modelDirectory, PretrainedModel.ConfigFileName)))
{
    var loaded = PretrainedModel.Load(modelDirectory, CPU, ScalarType.Float32, requireTokenizer: true);
    model = loaded.Model;
    tokenizer = loaded.Tokenizer!;
    Console.WriteLine($"Model: {Path.GetFullPath(modelDirectory)} ({loaded.Config.ModelType}, {loaded.Config.NumHiddenLayers} layers, vocabulary {loaded.Config.VocabSize})");
}
else if (args.Length > 0)
{
    Console.Error.WriteLine($"No model at '{Path.GetFullPath(modelDirectory)}': expected a Hugging Face directory with {PretrainedModel.ConfigFileName}, {PretrainedModel.WeightsFileName} and a tokenizer.");
    return 2;
}
else
{
    Console.WriteLine($"No shipped model at '{Path.GetFullPath(modelDirectory)}' (models/english/target comes with the models branch).");
    Console.WriteLine("Running on a seeded random tiny model with GPT-2's tokenizer instead: the text is gibberish, the mechanics are real.");
    tokenizer = TextTokenizer.Gpt2();
    showText = false;
    model = CausalLM.CreateRandom(new ModelConfig
    {
        ModelType = "llama", VocabSize = tokenizer.VocabSize, HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2,
        NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDim = 16, MaxPositionEmbeddings = 1024,
        BosTokenId = tokenizer.BosId, EosTokenIds = tokenizer.EosIds,
    }, CPU, ScalarType.Float32, seed: 1, std: 0.2);
}
model.eval();

using (model)
{
    const string prompt = "And God said, Let there be light: and there was light. And God saw the light, that it was good: and God divided";
    var options = new GenerationOptions { MaxNewTokens = 64 };

    // Two strategies over one loaded model: each decoder owns its KV cache, the weights are shared.
    using var baselineDecoder = new BaselineDecoder(model);
    using var lookupDecoder = new LookupDecoder(model);
    var reference = Run(new TextDecoder(baselineDecoder, tokenizer), prompt, options, showText);
    var fast = Run(new TextDecoder(lookupDecoder, tokenizer), prompt, options, showText);
    if (!fast.Tokens.SequenceEqual(reference.Tokens))
    {
        Console.Error.WriteLine("FAIL: Lookup is declared lossless but did not reproduce Baseline's tokens.");
        return 1;
    }
    Console.WriteLine($"Lookup reproduced Baseline token for token with {reference.Stats.TargetForwards - fast.Stats.TargetForwards} fewer target forwards.");

    // The same decoder behind Microsoft.Extensions.AI's IChatClient (plain-text chat template for a base model).
    using IChatClient chat = new PardecChatClient(new LookupDecoder(model), tokenizer, new() { OwnsDecoder = true });
    var messages = new List<ChatMessage> { new(ChatRole.System, "You answer in the style of the King James Bible."), new(ChatRole.User, "What did God divide?") };
    Console.Write("\n[chat] Assistant: ");
    ChatFinishReason? finish = null;
    UsageDetails? usage = null;
    await foreach (var update in chat.GetStreamingResponseAsync(messages, new ChatOptions { MaxOutputTokens = 48 }))
    {
        if (showText) Console.Write(update.Text);
        finish ??= update.FinishReason;
        usage ??= update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
    }
    Console.WriteLine($"\n[chat] finish: {finish}, tokens in/out: {usage?.InputTokenCount}/{usage?.OutputTokenCount}");
}
return 0;

static DecodeResult Run(TextDecoder decoder, string prompt, GenerationOptions options, bool showText)
{
    var clock = Stopwatch.StartNew();
    var result = decoder.Generate(prompt, options);
    Console.WriteLine($"\n[{decoder.Decoder.Strategy}] {clock.ElapsedMilliseconds} ms, {result.Stats}");
    if (showText) Console.WriteLine(prompt + result.Text);
    return result;
}

static string DefaultModelDirectory()
{
    foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return Path.Combine(dir.FullName, "models", "english", "target");
    return Path.Combine("models", "english", "target");
}
