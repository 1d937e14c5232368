using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using Pardec.Runtime.Chat;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Tokenization;

namespace Pardec.Extensions.AI;

/// <summary>Settings of a <see cref="PardecChatClient"/>.</summary>
public sealed record PardecChatClientOptions
{
    /// <summary>How messages become prompt text. Null (the default): the model's own chat template when the
    /// tokenizer's directory has one (<see cref="ChatTemplate.ForModel"/>), else <see cref="ChatTemplate.PlainText"/>.</summary>
    public ChatTemplate? Template { get; init; }

    /// <summary>Used when <see cref="ChatOptions.MaxOutputTokens"/> is not set.</summary>
    public int DefaultMaxOutputTokens { get; init; } = 256;

    /// <summary>Reported as the model id; the decoder's strategy name when null.</summary>
    public string? ModelId { get; init; }

    /// <summary>Dispose the decoder with the client.</summary>
    public bool OwnsDecoder { get; init; }
}

/// <summary>
/// <see cref="IChatClient"/> over any Pardec decoder (generated or interpreted) and a tokenizer. Messages are rendered
/// by a <see cref="ChatTemplate"/>: the model's own Jinja chat template when the tokenizer's directory has one (the
/// reply then ends at the template's end-of-turn marker, e.g. <c>&lt;|im_end|&gt;</c>), else plain text;
/// <see cref="ChatOptions"/> map onto <see cref="GenerationOptions"/>
/// (<c>MaxOutputTokens</c>, <c>Temperature</c>, <c>TopP</c>, <c>TopK</c>, <c>Seed</c>, <c>StopSequences</c>,
/// <c>ResponseFormat</c>: JSON with a schema is constrained to the schema, JSON without one to a JSON object — see
/// docs/constraints.md);
/// the response carries <see cref="UsageDetails"/> and the decode statistics under <c>pardec.*</c> keys of
/// <see cref="ChatResponse.AdditionalProperties"/>.
/// </summary>
/// <remarks>
/// A decoder is not thread-safe, so one client serialises its calls. For parallel requests create one decoder (and
/// client) per concurrent generation over the same loaded model: models are shared, KV caches are per decoder.
/// Cancellation throws <see cref="OperationCanceledException"/>; the decoder stays usable.
/// </remarks>
public sealed class PardecChatClient : IChatClient
{
    /// <summary>Keys of the decode statistics in <see cref="ChatResponse.AdditionalProperties"/>.</summary>
    public static class PropertyNames
    {
        /// <summary><c>pardec.strategy</c></summary>
        public const string Strategy = "pardec.strategy";
        /// <summary><c>pardec.stop_reason</c></summary>
        public const string StopReason = "pardec.stop_reason";
        /// <summary><c>pardec.steps</c></summary>
        public const string Steps = "pardec.steps";
        /// <summary><c>pardec.target_forwards</c></summary>
        public const string TargetForwards = "pardec.target_forwards";
        /// <summary><c>pardec.draft_forwards</c></summary>
        public const string DraftForwards = "pardec.draft_forwards";
        /// <summary><c>pardec.mean_accepted_per_step</c></summary>
        public const string MeanAcceptedPerStep = "pardec.mean_accepted_per_step";
        /// <summary><c>pardec.tokens_per_second</c></summary>
        public const string TokensPerSecond = "pardec.tokens_per_second";
        /// <summary><c>pardec.prefill_ms</c></summary>
        public const string PrefillMilliseconds = "pardec.prefill_ms";
        /// <summary><c>pardec.decode_ms</c></summary>
        public const string DecodeMilliseconds = "pardec.decode_ms";
    }

    private readonly TextDecoder _text;
    private readonly PardecChatClientOptions _options;
    private readonly ChatTemplate _template;
    private readonly int[] _stopIds;
    private readonly GenerationConfig? _generationDefaults;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ChatClientMetadata _metadata;
    private bool _disposed;
    // ResponseFormat constraints: the vocabulary's bytes once per client, each schema compiled once (masks fill in as used).
    private readonly Lazy<TokenVocabulary> _vocabulary;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TokenMatcher> _formats = new(StringComparer.Ordinal);

    /// <summary>A client over <paramref name="decoder"/>; the tokenizer must be the model's.</summary>
    public PardecChatClient(IDecoder decoder, TextTokenizer tokenizer, PardecChatClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        ArgumentNullException.ThrowIfNull(tokenizer);
        _options = options ?? new PardecChatClientOptions();
        if (_options.DefaultMaxOutputTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(options), _options.DefaultMaxOutputTokens, "DefaultMaxOutputTokens must be >= 0");
        _text = new TextDecoder(decoder, tokenizer);
        _template = _options.Template ?? TemplateOf(tokenizer);
        _stopIds = StopIds(_template, tokenizer);
        _generationDefaults = ModelDirectory(tokenizer) is { } dir ? GenerationConfig.Load(Path.Combine(dir, GenerationConfig.FileName)) : null;
        _metadata = new ChatClientMetadata("pardec", null, _options.ModelId ?? decoder.Strategy);
        // The reply may end where the constraint is complete: at EOS or at the template's end-of-turn token.
        _vocabulary = new(() => TokenVocabulary.From(tokenizer, [.. tokenizer.EosIds, .. _stopIds]));
    }

    /// <summary>
    /// The constraint a <see cref="ChatResponseFormat"/> asks for: none for text; for JSON with a schema, the schema
    /// (lowered by <see cref="JsonSchemaRegex"/>; an unsupported schema throws <see cref="ConstraintSyntaxException"/>);
    /// for JSON without one, a JSON object nested at most three levels (JSON itself is not regular).
    /// </summary>
    public TokenMatcher? ConstraintFor(ChatResponseFormat? format) => format switch
    {
        ChatResponseFormatJson { Schema: { } schema } => _formats.GetOrAdd(schema.GetRawText(),
            text => TokenConstraint.FromJsonSchema(text).For(_vocabulary.Value)),
        ChatResponseFormatJson => _formats.GetOrAdd("", _ => TokenConstraint.AnyJson().For(_vocabulary.Value)),
        _ => null,
    };

    /// <summary>How this client renders messages (the model's own template, or plain text).</summary>
    public ChatTemplate Template => _template;

    /// <summary>The decoder generating the replies.</summary>
    public IDecoder Decoder => _text.Decoder;
    /// <summary>The model's tokenizer.</summary>
    public TextTokenizer Tokenizer => _text.Tokenizer;

    /// <summary>The generation options a request maps to (exposed so the mapping can be inspected and tested).</summary>
    public GenerationOptions MapOptions(ChatOptions? options)
    {
        var stops = new List<string>(_template.StopSequences);
        if (options?.StopSequences is { } extra) stops.AddRange(extra.Where(s => !string.IsNullOrEmpty(s)));
        var mapped = new GenerationOptions
        {
            MaxNewTokens = options?.MaxOutputTokens ?? _options.DefaultMaxOutputTokens,
            Temperature = options?.Temperature ?? 0,
            TopP = options?.TopP ?? 1.0,
            TopK = options?.TopK ?? 0,
            Seed = options?.Seed ?? 0,
            StopStrings = stops,
            AddBos = _template.AddBos,
            EosTokenIds = _stopIds.Length == 0 ? null : [.. _text.Tokenizer.EosIds, .. _stopIds],
            Constraint = ConstraintFor(options?.ResponseFormat),
        };
        // The model's generation_config.json supplies the sampling settings the request leaves unset.
        if (_generationDefaults is not null)
            mapped = _generationDefaults.ApplyTo(mapped, options?.Temperature is not null, options?.TopP is not null, options?.TopK is not null);
        mapped.Validate();
        return mapped;
    }

    /// <inheritdoc/>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
                                                     CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ObjectDisposedException.ThrowIf(_disposed, this);
        string prompt = _template.Render(messages, options?.Instructions);
        var generation = MapOptions(options);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var trimmer = new ReplyTrimmer(_template.TrimReplyStart);
            var result = await Task.Run(() => _text.Generate(prompt, generation, null, null, cancellationToken), CancellationToken.None)
                .ConfigureAwait(false);
            ThrowIfCancelled(result, cancellationToken);
            var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, trimmer.Trim(result.Text)))
            {
                ResponseId = NewId(),
                ModelId = _metadata.DefaultModelId,
                CreatedAt = DateTimeOffset.UtcNow,
                FinishReason = MapFinishReason(result.StopReason),
                Usage = Usage(result),
                AdditionalProperties = Statistics(result),
            };
            response.Messages[0].MessageId = response.ResponseId;
            return response;
        }
        finally { _gate.Release(); }
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
                                                                                [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ObjectDisposedException.ThrowIf(_disposed, this);
        string prompt = _template.Render(messages, options?.Instructions);
        var generation = MapOptions(options);
        string responseId = NewId();
        var createdAt = DateTimeOffset.UtcNow;

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        // Also cancelled when the caller stops enumerating early, so the worker never outlives the enumeration.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var trimmer = new ReplyTrimmer(_template.TrimReplyStart);
        var work = Task.Run(() =>
        {
            try
            {
                return _text.Generate(prompt, generation, piece =>
                {
                    string text = trimmer.Trim(piece);
                    if (text.Length > 0) channel.Writer.TryWrite(text);
                }, null, stop.Token);
            }
            finally { channel.Writer.TryComplete(); }
        }, CancellationToken.None);
        try
        {
            await foreach (string piece in channel.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
                yield return Update(piece, responseId, createdAt);
            var result = await work.ConfigureAwait(false);
            ThrowIfCancelled(result, cancellationToken);
            var last = Update(null, responseId, createdAt);
            last.FinishReason = MapFinishReason(result.StopReason);
            last.Contents.Add(new UsageContent(Usage(result)));
            last.AdditionalProperties = Statistics(result);
            yield return last;
        }
        finally
        {
            stop.Cancel();
            try { await work.ConfigureAwait(false); }
            catch (Exception) when (work.IsFaulted || work.IsCanceled) { /* already observed above, or the caller left early */ }
            _gate.Release();
        }
    }

    private ChatResponseUpdate Update(string? text, string responseId, DateTimeOffset createdAt)
    {
        var update = text is null ? new ChatResponseUpdate { Role = ChatRole.Assistant } : new ChatResponseUpdate(ChatRole.Assistant, text);
        update.ResponseId = responseId;
        update.MessageId = responseId;
        update.ModelId = _metadata.DefaultModelId;
        update.CreatedAt = createdAt;
        return update;
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType.IsInstanceOfType(_text.Decoder)) return _text.Decoder;
        if (serviceType == typeof(TextTokenizer)) return _text.Tokenizer;
        return null;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_options.OwnsDecoder) _text.Decoder.Dispose();
        _gate.Dispose();
    }

    /// <summary>Stop string and end of sequence end a turn normally; the token budget or a full cache cut it short.</summary>
    public static ChatFinishReason MapFinishReason(StopReason reason) => reason switch
    {
        StopReason.EndOfSequence or StopReason.StopString => ChatFinishReason.Stop,
        StopReason.MaxNewTokens or StopReason.CacheFull => ChatFinishReason.Length,
        // The response format admits no further token: the reply ends where the constraint left it.
        StopReason.Unsatisfiable => ChatFinishReason.Stop,
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "a cancelled decode has no finish reason"),
    };

    private static void ThrowIfCancelled(DecodeResult result, CancellationToken cancellationToken)
    {
        if (result.StopReason != StopReason.Cancelled) return;
        cancellationToken.ThrowIfCancellationRequested();
        throw new OperationCanceledException("The decode was cancelled.");
    }

    private static UsageDetails Usage(DecodeResult result) => new()
    {
        InputTokenCount = result.Stats.PromptTokens,
        OutputTokenCount = result.Tokens.Count,
        TotalTokenCount = result.Stats.PromptTokens + result.Tokens.Count,
    };

    private AdditionalPropertiesDictionary Statistics(DecodeResult result) => new()
    {
        [PropertyNames.Strategy] = _text.Decoder.Strategy,
        [PropertyNames.StopReason] = result.StopReason.ToString(),
        [PropertyNames.Steps] = result.Stats.Steps,
        [PropertyNames.TargetForwards] = result.Stats.TargetForwards,
        [PropertyNames.DraftForwards] = result.Stats.DraftForwards,
        [PropertyNames.MeanAcceptedPerStep] = result.Stats.MeanAcceptedPerStep,
        [PropertyNames.TokensPerSecond] = result.Stats.TokensPerSecond,
        [PropertyNames.PrefillMilliseconds] = result.Stats.PrefillTime.TotalMilliseconds,
        [PropertyNames.DecodeMilliseconds] = result.Stats.DecodeTime.TotalMilliseconds,
    };

    // The template of the directory the tokenizer was read from (a model directory), if any.
    private static ChatTemplate TemplateOf(TextTokenizer tokenizer) =>
        ModelDirectory(tokenizer) is { } directory ? ChatTemplate.ForModel(directory) : ChatTemplate.PlainText;

    private static string? ModelDirectory(TextTokenizer tokenizer) =>
        File.Exists(tokenizer.SourcePath) ? Path.GetDirectoryName(Path.GetFullPath(tokenizer.SourcePath)) : null;

    // End-of-turn tokens the tokenizer knows as one id stop the decode at that id (the text match would see them too,
    // but only after detokenising; a tokenizer without them as special tokens still stops at the text).
    private static int[] StopIds(ChatTemplate template, TextTokenizer tokenizer) =>
        ModelChatTemplate.EndOfTurnIds(template.EndOfTurnTokens, tokenizer);

    private static string NewId() => "pardec-" + Guid.NewGuid().ToString("N");

    /// <summary>Drops white space at the start of the reply (the template ends with "Assistant:", the model adds a space).</summary>
    private sealed class ReplyTrimmer(bool enabled)
    {
        private bool _started = !enabled;

        public string Trim(string piece)
        {
            if (_started) return piece;
            string trimmed = piece.TrimStart();
            if (trimmed.Length > 0) _started = true;
            return trimmed;
        }
    }
}
