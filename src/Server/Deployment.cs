using Microsoft.Extensions.Logging;
using Pardec.Dsl.Plan;
using System.Collections.Concurrent;
using Pardec.Runtime.Chat;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Models;
using Pardec.Runtime.Tokenization;
using Pardec.Server.Batching;
using Pardec.Server.Generation;
using Pardec.Server.Metrics;

namespace Pardec.Server;

/// <summary>What a deployment is made of: a strategy bound to its models, and a way to make its decoder.</summary>
/// <param name="Name">The id clients put in the request's <c>model</c> field.</param>
/// <param name="CreateDecoder">Makes a decoder whose caches hold the given number of tokens (the decoder-pool path).</param>
/// <param name="ModelDirectory">The main model's directory (its chat template is read from there); null: plain text.</param>
public sealed record DeploymentSpec(string Name, DecodePlan Plan, ModelSet Models, ICausalLM Target, TextTokenizer Tokenizer,
                                    Func<int, IDecoder> CreateDecoder, string? ModelDirectory = null,
                                    IReadOnlyDictionary<string, string>? Parameters = null);

/// <summary>How a deployment runs.</summary>
public sealed record DeploymentOptions
{
    /// <summary>Batch rows (continuous batching) or decoders (pool); null: the strategy's <c>batch</c> parameter, else 8 rows / 2 decoders.</summary>
    public int? Concurrency { get; init; }
    /// <summary>Requests that may wait for a row; one more is answered 429.</summary>
    public int MaxQueue { get; init; } = 64;
    /// <summary>Prompt tokens a joining row feeds per step.</summary>
    public int PrefillChunk { get; init; } = 32;
    /// <summary>Tokens of prompt and reply together; null: the model's <c>max_position_embeddings</c>.</summary>
    public int? ContextLength { get; init; }
    /// <summary>When the greedy rows of a batched draft-chain strategy draft: always, never, or as the load makes it pay.</summary>
    public SpeculationMode Speculation { get; init; } = SpeculationMode.Always;
    /// <summary>Use the decoder pool even when the strategy could be batched (for comparisons).</summary>
    public bool DisableBatching { get; init; }
}

/// <summary>
/// A named, served strategy: its engine (continuous batching when the strategy's step is plain decoding or a greedy
/// draft chain, else a pool of its decoders), its tokenizer and chat format, and its context limit.
/// </summary>
public sealed class Deployment : IDisposable
{
    private Deployment(string name, DecodePlan plan, TextTokenizer tokenizer, ModelChatTemplate chat, int contextLength,
                       IGenerationEngine engine, string? whyNotBatched)
    {
        Name = name;
        Plan = plan;
        Tokenizer = tokenizer;
        Chat = chat;
        ContextLength = contextLength;
        Engine = engine;
        WhyNotBatched = whyNotBatched;
        EndOfTurnIds = EndOfTurnIdsOf(chat.EndOfTurn, tokenizer);
        _textVocabulary = new(() => TokenVocabulary.From(tokenizer));
        _chatVocabulary = new(() => TokenVocabulary.From(tokenizer, [.. tokenizer.EosIds, .. EndOfTurnIds]));
    }

    public string Name { get; }
    public DecodePlan Plan { get; }
    public string Strategy => Plan.Name;
    public TextTokenizer Tokenizer { get; }
    public ModelChatTemplate Chat { get; }
    public int ContextLength { get; }
    public IGenerationEngine Engine { get; }
    /// <summary>Null when continuously batched; else why the strategy runs on the decoder pool.</summary>
    public string? WhyNotBatched { get; }
    /// <summary>End-of-turn markers of the chat format that the tokenizer has as one id: a chat reply also stops there.</summary>
    public IReadOnlyList<int> EndOfTurnIds { get; }
    public DateTimeOffset Created { get; } = DateTimeOffset.UtcNow;

    // response_format constraints, compiled once per distinct schema / pattern / grammar and kept with their mask caches.
    private const int MaxConstraints = 256;
    private readonly ConcurrentDictionary<string, Lazy<TokenConstraint>> _constraints = new(StringComparer.Ordinal);
    private readonly Lazy<TokenVocabulary> _chatVocabulary, _textVocabulary;

    /// <summary>
    /// The constraint <paramref name="key"/> names over this deployment's vocabulary, compiled by
    /// <paramref name="compile"/> the first time (its errors reach the caller each time it is asked). A chat reply may
    /// end at EOS or the chat format's end-of-turn id; a text completion at EOS.
    /// </summary>
    public TokenMatcher Constraint(string key, bool chat, Func<TokenConstraint> compile)
    {
        if (_constraints.Count >= MaxConstraints) { _constraints.Clear(); _precomputed.Clear(); } // bounded: many one-off schemas must not grow it
        var lazy = _constraints.GetOrAdd(key, _ => new Lazy<TokenConstraint>(compile));
        TokenConstraint constraint;
        try { constraint = lazy.Value; }
        catch { _constraints.TryRemove(key, out _); throw; }
        var matcher = constraint.For(chat ? _chatVocabulary.Value : _textVocabulary.Value);
        // Masks of the states a decode can reach are built once, here, so no request's step pays for a first mask
        // (about 1 ms per state at a 128k vocabulary, 25 µs at 4k; docs/constraints.md): bounded for very large automata.
        if (_precomputed.TryAdd(matcher, true)) matcher.Precompute(PrecomputedStates);
        return matcher;
    }

    private const int PrecomputedStates = 512;
    private readonly ConcurrentDictionary<TokenMatcher, bool> _precomputed = new(ReferenceEqualityComparer.Instance);

    public static Deployment Create(DeploymentSpec spec, DeploymentOptions options, ServerMetrics? metrics = null, ILoggerFactory? logging = null)
    {
        var logger = logging?.CreateLogger("Pardec.Server.Engine") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        int context = options.ContextLength ?? spec.Target.Config.MaxPositionEmbeddings;
        if (context > spec.Target.Config.MaxPositionEmbeddings)
            throw new ArgumentException($"Deployment '{spec.Name}': a context of {context} tokens exceeds the model's {spec.Target.Config.MaxPositionEmbeddings} positions.");
        var chat = (spec.ModelDirectory is { } dir ? ModelChatTemplate.FromDirectory(dir) : null) ?? ModelChatTemplate.PlainText;
        var eos = spec.Tokenizer.EosIds.Count > 0 ? spec.Tokenizer.EosIds : spec.Target.Config.EosTokenIds;
        string? why = options.DisableBatching ? "batching disabled for this deployment" : null;
        IGenerationEngine engine;
        if (why is null && BatchShape.TryCreate(spec, options, context, out var shape, out why))
            engine = new ContinuousBatchEngine(spec.Name, shape, spec.Tokenizer, options.MaxQueue, metrics, logger);
        else
        {
            int decoders = options.Concurrency ?? 2;
            engine = new DecoderPoolEngine(spec.Name, () => spec.CreateDecoder(context), decoders, spec.Tokenizer, eos, context,
                                           options.MaxQueue, metrics, logger);
        }
        metrics?.Track(spec.Name, engine);
        logger.LogInformation("Deployment {Deployment}: strategy {Strategy} on {Engine} ({Capacity} at once, context {Context}){Why}",
                              spec.Name, spec.Plan.Name, engine.Kind, engine.Capacity, context, why is null ? "" : "; not batched: " + why);
        return new Deployment(spec.Name, spec.Plan, spec.Tokenizer, chat, context, engine, why);
    }

    // The ids of those end-of-turn texts the tokenizer encodes as exactly one token (special tokens such as <|im_end|>).
    private static int[] EndOfTurnIdsOf(IEnumerable<string> texts, TextTokenizer tokenizer) =>
        texts.Select(text => tokenizer.Encode(text, addBos: false)).Where(ids => ids.Length == 1)
            .Select(ids => ids[0]).Where(id => !tokenizer.IsEos(id)).Distinct().ToArray();

    public void Dispose() => Engine.Dispose();
}

/// <summary>Which strategies the row-batched engine runs: a causal step with no state that verifies greedily either
/// nothing proposed (plain decoding; sampled per request) or one greedy draft-model chain (the target with skipped
/// layers counts as a draft model). Anything else is served by the decoder pool, and the reason is logged.</summary>
internal static class BatchShape
{
    public static bool TryCreate(DeploymentSpec spec, DeploymentOptions options, int context, out BatchEngineOptions shape, out string? why)
    {
        shape = null!;
        var plan = spec.Plan;
        why = Check(plan, spec, out var draft, out var skip, out var length);
        if (why is not null) return false;
        if (spec.Target.Config.HasSlidingLayers || draft?.Config.HasSlidingLayers == true)
        {
            why = "a sliding-window model's cache rows cannot be compacted";
            return false;
        }
        var values = new ParamValues(plan, spec.Parameters);
        int gamma = length is null ? 0 : values.Int(length);
        int batch = options.Concurrency ?? (plan.Canvas.Batch is { } b ? values.Int(b) : 8);
        shape = new BatchEngineOptions(spec.Target, draft, skip, gamma, batch, context, options.PrefillChunk, options.Speculation);
        return true;
    }

    private static string? Check(DecodePlan plan, DeploymentSpec spec, out ICausalLM? draft, out LayerSkip? skip, out Expr? length)
    {
        draft = null; skip = null; length = null;
        if (plan.Step is not CausalStepPlan step) return "its canvas is not causal";
        if (plan.States.Count > 0 || step.Updates.Count > 0) return "its step keeps state between steps";
        if (step.Verify.Mode != VerifyMode.Chain) return "it verifies a token tree";
        bool greedy = step.Accept is GreedyAccept;
        if (!greedy && !(step.Accept is RejectionAccept && step.Proposers.Count == 0))
            return $"its acceptance rule '{step.Accept}' is not greedy";
        if (step.Proposers.Count == 0) return null;
        if (step.Proposers.Count > 1) return "it merges several proposers";
        switch (step.Proposers[0])
        {
            case DraftProposer { Sample: false, StopBelow: null } d:
                draft = spec.Models.Model(d.Model);
                length = d.Length;
                return null;
            case SelfDraftProposer { Sample: false, StopBelow: null } s when plan.FindModel(s.Model) is { Target: { } target, Skip: { } range }:
                draft = spec.Models.Model(target);
                skip = new LayerSkip(range.Layers());
                length = s.Length;
                return null;
            case var other:
                return $"its proposer '{other}' has no row-batched form";
        }
    }
}
