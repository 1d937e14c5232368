using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Decoding;

/// <summary>
/// Plain decoding — prefill, then one token per forward — the baseline every strategy is measured against and
/// must reproduce when lossless. In the style of gpt-fast: the KV cache, the one-token input, its position and
/// its mask are allocated once and reused every step (in-place writes, no <c>cat</c>, no growing lists), each
/// step runs in its own dispose scope, and the only host sync per step is the sampled id. It samples with the runtime's
/// one <see cref="NodeSampler"/>, so a seed gives the same text here as in a plain-decoding strategy.
/// </summary>
public sealed class AutoregressiveGenerator : IDisposable
{
    private readonly ICausalLM _model;
    private readonly TextTokenizer? _tokenizer;
    private readonly KVCache _cache;
    private readonly Tensor _token;    // [1, 1] int64: the last sampled id, next step's input
    private readonly Tensor _tokenHost; // [1, 1] int64 CPU: its staging
    private readonly NodeSampler _sampler;
    private readonly StopRule _stop = new();
    private readonly Tensor _position; // [1, 1] int64: its position (= cache length)
    private readonly Tensor _attendAll; // [1, 1, 1, maxLength] bool, all true: a decode step sees the cache and itself
    private readonly Scalar _one = 1;

    public AutoregressiveGenerator(ICausalLM model, TextTokenizer? tokenizer, int maxLength)
    {
        _model = model;
        _tokenizer = tokenizer;
        _cache = model.CreateCache(1, maxLength);
        _token = torch.zeros([1, 1], ScalarType.Int64, model.Device).DetachFromDisposeScope();
        _tokenHost = torch.zeros([1, 1], ScalarType.Int64).DetachFromDisposeScope();
        _sampler = new NodeSampler(1, model.Device);
        _position = torch.zeros([1, 1], ScalarType.Int64, model.Device).DetachFromDisposeScope();
        _attendAll = torch.ones([1, 1, 1, maxLength], ScalarType.Bool, model.Device).DetachFromDisposeScope();
    }

    public int MaxLength => _cache.MaxLength;
    public KVCache Cache => _cache;

    /// <summary>Encodes <paramref name="prompt"/> with the tokenizer and generates.</summary>
    public DecodeResult Generate(string prompt, GenerationOptions options, Action<int, string>? onToken = null, CancellationToken cancellationToken = default)
    {
        var tokenizer = _tokenizer ?? throw new InvalidOperationException("a text prompt needs a tokenizer");
        return Generate(tokenizer.Encode(prompt, options.AddBos), options, onToken, cancellationToken);
    }

    /// <summary>
    /// Generates after <paramref name="prompt"/> ids. <paramref name="onToken"/> receives each id and the text it
    /// completed (empty while a multi-byte character is incomplete, or without a tokenizer); a final call may repeat
    /// the last id with text that was held back, so the pieces always concatenate to <see cref="DecodeResult.Text"/>.
    /// </summary>
    public DecodeResult Generate(IReadOnlyList<int> prompt, GenerationOptions options, Action<int, string>? onToken = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (prompt.Count == 0) throw new ArgumentException("the prompt must hold at least one token (e.g. BOS)", nameof(prompt));
        if (prompt.Count >= _cache.MaxLength)
            throw new ArgumentException($"a {prompt.Count}-token prompt leaves no room in a {_cache.MaxLength}-slot cache", nameof(prompt));
        using var noGrad = torch.no_grad();
        _sampler.Configure(SamplingSettings.From(options));
        _stop.Start(options, _tokenizer?.EosIds ?? _model.Config.EosTokenIds);
        // Room: a step forwards the last token into the cache, so the cache ends the decode one token past its slots.
        int room = _cache.MaxLength - prompt.Count + 1;
        bool needText = _tokenizer is not null && (onToken is not null || options.StopStrings.Count > 0);
        var detokenizer = needText ? _tokenizer!.CreateStreamingDetokenizer() : null;
        var text = needText ? new System.Text.StringBuilder() : null;
        var tokens = new List<int>(options.MaxNewTokens);
        var stats = new DecodeStats { PromptTokens = prompt.Count };
        _cache.Reset();

        var clock = Stopwatch.StartNew();
        int n = prompt.Count, next;
        using (var scope = torch.NewDisposeScope())
        {
            var ids = new long[n];
            for (int i = 0; i < n; i++) ids[i] = prompt[i];
            var input = torch.tensor(ids, ScalarType.Int64, _model.Device).unsqueeze(0);                  // [1, n]
            var positions = torch.arange(0, n, ScalarType.Int64, _model.Device).unsqueeze(0);             // [1, n]
            var mask = torch.ones(n, n, ScalarType.Bool, _model.Device).tril_().unsqueeze(0).unsqueeze(0); // [1, 1, n, n]
            using var output = _model.Forward(input, positions, mask, _cache);
            next = _sampler.PickOne(output.Logits[0, n - 1]); // [vocab]: the one host sync per step
            using (Scalar position = n) _position.fill_(position); // a using local stays reachable (see Scalars)
        }
        stats.TargetForwards = 1;
        stats.PrefillTime = clock.Elapsed;
        clock.Restart();

        var reason = StopReason.MaxNewTokens;
        while (true)
        {
            int id = next;
            if (_stop.IsStopToken(id)) { reason = StopReason.EndOfSequence; break; }
            tokens.Add(id);
            stats.Tokens = tokens.Count;
            if (detokenizer is not null)
            {
                string piece = detokenizer.Push(id);
                text!.Append(piece);
                onToken?.Invoke(id, piece);
                if (StopStrings.Find(text, text.Length - piece.Length, options.StopStrings) is int cut)
                {
                    text.Length = cut;
                    reason = StopReason.StopString;
                    break;
                }
            }
            else onToken?.Invoke(id, string.Empty);
            if (_stop.Exhausted(tokens.Count, room) is { } exhausted) { reason = exhausted; break; }
            if (cancellationToken.IsCancellationRequested) { reason = StopReason.Cancelled; break; }

            using (var scope = torch.NewDisposeScope())
            {
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(_tokenHost.bytes)[0] = id;
                _token.copy_(_tokenHost);
                var mask = _attendAll.narrow(3, 0, _cache.Length + 1); // [1, 1, 1, L + 1]
                using var output = _model.Forward(_token, _position, mask, _cache);
                next = _sampler.PickOne(output.Logits[0, 0]);
                _position.add_(_one);
            }
            stats.TargetForwards++;
            stats.Steps++;
        }
        if (detokenizer is not null && reason != StopReason.StopString)
        {
            // Held-back text (an incomplete character at the end) still reaches the stream, so pieces add up to Text.
            string rest = detokenizer.Flush();
            text!.Append(rest);
            if (rest.Length > 0) onToken?.Invoke(tokens.Count > 0 ? tokens[^1] : -1, rest);
        }
        stats.DecodeTime = clock.Elapsed;
        string result = text?.ToString() ?? _tokenizer?.Decode(tokens) ?? string.Empty;
        return new DecodeResult(tokens, result, stats, reason);
    }

    /// <summary>Streams the text pieces of a generation (the work runs on a worker thread).</summary>
    public async IAsyncEnumerable<string> StreamAsync(string prompt, GenerationOptions options,
                                                      [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var worker = Task.Run(() =>
        {
            try
            {
                Generate(prompt, options, (_, piece) => { if (piece.Length > 0) channel.Writer.TryWrite(piece); }, cancellationToken);
                channel.Writer.Complete();
            }
            catch (Exception e)
            {
                channel.Writer.Complete(e);
            }
        }, CancellationToken.None);
        await foreach (var piece in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            yield return piece;
        await worker.ConfigureAwait(false);
    }

    public void Dispose()
    {
        _cache.Dispose();
        _token.Dispose(); _tokenHost.Dispose(); _sampler.Dispose(); _position.Dispose(); _attendAll.Dispose(); _one.Dispose();
    }
}
