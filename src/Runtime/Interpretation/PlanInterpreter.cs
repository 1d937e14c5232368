using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Acceptance;
using Pardec.Runtime.Primitives.Proposers;
using Pardec.Runtime.Primitives.State;
using TorchSharp;
using DraftTreeProposer = Pardec.Dsl.Plan.DraftTreeProposer;
using JacobiPlan = Pardec.Dsl.Plan.JacobiProposer;
using RuntimeJacobi = Pardec.Runtime.Primitives.Proposers.JacobiProposer;

namespace Pardec.Runtime.Interpretation;

/// <summary>
/// Runs a <see cref="DecodePlan"/> directly: the reference engine. It builds the same primitives a generated decoder
/// builds, with the same arguments, and walks the plan's step each iteration; the generated decoder writes that walk
/// out as straight-line code. The two must give identical tokens for every strategy (tested).
/// </summary>
public static class PlanInterpreter
{
    public const int DefaultMaxLength = 1024;

    /// <summary>Drafts per verification of the lossless masked draft-and-verify rule: one batched forward of this many canvases.</summary>
    public const int DraftVerifyDrafts = InterpretedMaskedDecoder.DraftVerifyDrafts;

    public static IDecoder Create(DecodePlan plan, ModelSet models, IReadOnlyDictionary<string, string>? parameters = null,
                                  int maxLength = DefaultMaxLength)
    {
        var values = new ParamValues(plan, parameters);
        return plan.Step switch
        {
            CausalStepPlan causal when plan.Canvas.Batch is not null => new InterpretedBatchedDecoder(plan, causal, models, values, maxLength),
            CausalStepPlan causal => new InterpretedCausalDecoder(plan, causal, models, values, maxLength),
            MaskedStepPlan masked => new InterpretedMaskedDecoder(plan, masked, models, values, maxLength),
            _ => throw new NotSupportedException($"Strategy '{plan.Name}': the interpreter does not run {plan.Canvas} canvases yet."),
        };
    }
}

internal sealed class InterpretedCausalDecoder : IDecoder
{
    private readonly DecodePlan _plan;
    private readonly CausalStepPlan _step;
    private readonly CausalSession _session;
    private readonly IProposer[] _proposers;
    private readonly (NgramPoolProposer Pool, RuntimeJacobi Jacobi)[] _jacobiUpdates;
    private readonly RejectionAcceptance? _rejection;
    private readonly TypicalAcceptance? _typical;
    private readonly DraftModelProposer? _sampledDraft;
    private readonly bool _needsHidden;
    private readonly int? _maxTokens;
    private readonly bool _stopOnEos;
    private readonly ParamValues _values;
    private readonly double? _temperature;

    private readonly Dictionary<string, AdaptiveLength> _adaptive = new(StringComparer.Ordinal);
    private readonly List<(DraftModelProposer Proposer, AdaptiveLength State)> _adaptiveDrafts = new();
    private readonly List<AdaptiveLength> _adaptiveUpdates = new();

    public InterpretedCausalDecoder(DecodePlan plan, CausalStepPlan step, ModelSet models, ParamValues values, int maxLength)
    {
        _plan = plan;
        _values = values;
        _step = step;
        var target = models.Model(step.Verify.Model);
        // Sized exactly as the generator sizes it: the binder's worst-case width plus the root — unless a build-time
        // param was overridden, which the binder's widths (computed from defaults) do not cover: then the declared
        // max_width, so a longer draft is verified whole instead of being cut at the default's width.
        int capacity = (values.ResizesProposals ? step.Verify.MaxWidth : step.Verify.Width) + 1;
        _session = new CausalSession(target, maxLength, capacity);

        var pools = new Dictionary<string, NgramPoolProposer>(StringComparer.Ordinal);
        _proposers = new IProposer[step.Proposers.Count];
        RuntimeJacobi? jacobi = null;
        for (int i = 0; i < _proposers.Length; i++)
        {
            _proposers[i] = step.Proposers[i] switch
            {
                DraftProposer d => Adapt(d.Length, new DraftModelProposer(models.Model(d.Model), maxLength, capacity, Width(d.Length), d.Sample,
                                                          values.Float(d.StopBelow, 0), _session.Sampler)),
                SelfDraftProposer s => Adapt(s.Length, SelfDraft(plan, s, models, values, maxLength, capacity, _session.Sampler, Width(s.Length))),
                LookupProposer l => new PromptLookupProposer(values.Int(l.MaxNgram), values.Int(l.MinNgram), values.Int(l.Length)),
                JacobiPlan { Blocks: { } blocks } j => new GaussSeidelJacobiProposer(values.Int(j.Window) / values.Int(blocks), values.Int(blocks)),
                JacobiPlan j => jacobi = new RuntimeJacobi(values.Int(j.Window)),
                DraftTreeProposer t => t.Tree is { } shape
                    ? new Primitives.Proposers.DraftTreeProposer(models.Model(t.Model), maxLength, new DraftTreeShape(shape.Parents.ToArray(), shape.Choices.ToArray()))
                    : new Primitives.Proposers.DraftTreeProposer(models.Model(t.Model), maxLength, values.Int(t.Depth!), values.Int(t.TopK!)),
                PoolMatchProposer m => pools[m.State] = Pool(plan, m, values),
                HeadsProposer h => Heads(plan, h, models),
                var other => throw new NotSupportedException($"The interpreter has no primitive for '{other}'."),
            };
        }
        _needsHidden = _proposers.Any(p => p.NeedsHidden);
        _sampledDraft = _proposers.OfType<DraftModelProposer>().FirstOrDefault(p => p.HasDistributions);
        switch (step.Accept)
        {
            case RejectionAccept:
                _rejection = new RejectionAcceptance(capacity);
                break;
            case TypicalAccept t:
                _typical = new TypicalAcceptance(values.Float(t.Epsilon, 0.3), values.Float(t.Delta, 0.09), capacity);
                break;
        }
        var updates = new List<(NgramPoolProposer, RuntimeJacobi)>();
        foreach (var u in step.Updates)
        {
            if (pools.TryGetValue(u.State, out var pool) && u.Source == "jacobi" && jacobi is not null) updates.Add((pool, jacobi));
            else if (u.Source == "accept" && _adaptive.TryGetValue(u.State, out var adaptive)) _adaptiveUpdates.Add(adaptive);
        }
        _temperature = step.Accept switch
        {
            RejectionAccept { Temperature: { } t } => values.Evaluate(t),
            TypicalAccept { Temperature: { } t } => values.Evaluate(t),
            _ => null,
        };
        _jacobiUpdates = updates.ToArray();

        foreach (var stop in plan.Stops)
            if (stop is MaxTokensStop { Limit: { } limit }) _maxTokens = values.Int(limit);
        _stopOnEos = plan.Stops.IsEmpty || plan.Stops.Any(s => s is EosStop);
    }

    public string Strategy => _plan.Name;
    public string PlanText => _plan.Print();

    public DecodeResult Generate(ReadOnlySpan<int> prompt, GenerationOptions options, IDecodeObserver? observer = null,
                                 CancellationToken cancellationToken = default)
    {
        options = StrategyOptions.Apply(options, _maxTokens, _stopOnEos);
        if (_temperature is double temperature) options = options with { Temperature = temperature };
        using var noGrad = torch.no_grad();
        var s = _session;
        s.Start(prompt, options);
        foreach (var p in _proposers) p.Reset(s.Context);
        foreach (var state in _adaptive.Values) state.Reset();
        while (!s.Done)
        {
            if (cancellationToken.IsCancellationRequested) { s.Stop(StopReason.Cancelled); break; }
            foreach (var (proposer, state) in _adaptiveDrafts) proposer.Length = state.Current;
            s.BeginStep();
            for (int i = 0; i < _proposers.Length; i++) _proposers[i].Propose(s.Context, s.Tree, i);
            using (var verified = s.Verify(_needsHidden))
            {
                switch (_step.Accept)
                {
                    case GreedyAccept:
                        GreedyAcceptance.Accept(s.Tree, verified.Logits, s.Sampler, s.Outcome);
                        break;
                    case RejectionAccept:
                        _rejection!.Accept(s.Tree, verified.Logits, _sampledDraft?.Distributions, s.Sampler, s.Outcome);
                        break;
                    case TypicalAccept:
                        _typical!.Accept(s.Tree, verified.Logits, s.Sampler, s.Outcome);
                        break;
                }
                s.Commit(verified);
            }
            foreach (var p in _proposers) p.Observe(s.Context, s.Tree, s.Outcome);
            foreach (var (pool, jacobi) in _jacobiUpdates) pool.AddFromJacobi(s.Context, jacobi);
            foreach (var state in _adaptiveUpdates) state.Update(s.ProposedLastStep, s.Outcome.AcceptedCount);
            if (observer is not null && !observer.OnStep(DecodeStepView.FromCausal(s))) s.Stop(StopReason.StopString);
        }
        int draftForwards = 0;
        foreach (var p in _proposers)
        {
            if (p is DraftModelProposer d) draftForwards += d.DraftForwards;
            if (p is Primitives.Proposers.DraftTreeProposer t) draftForwards += t.DraftForwards;
        }
        return s.Result(draftForwards);
    }

    private static DraftModelProposer SelfDraft(DecodePlan plan, SelfDraftProposer s, ModelSet models, ParamValues values, int maxLength, int capacity, NodeSampler sampler, int length)
    {
        var role = plan.FindModel(s.Model) ?? throw new InvalidOperationException($"Unknown model role '{s.Model}'.");
        var target = models.Model(role.Target!);
        var layers = role.Skip!.Layers();
        return new DraftModelProposer(target, maxLength, capacity, length, s.Sample, values.Float(s.StopBelow, 0),
                                      sampler, new LayerSkip(layers));
    }

    // Widths size buffers: a state-bound length is built for the state's maximum.
    private int Width(Expr length) => length is StateRef sr
        ? _values.Int(_plan.FindState(sr.Name)!.Arg("max")!)
        : _values.Int(length);

    // Binds a draft length to an adaptive_length state, set from it before every step.
    private DraftModelProposer Adapt(Expr length, DraftModelProposer proposer)
    {
        if (length is StateRef sr)
        {
            if (!_adaptive.TryGetValue(sr.Name, out var state))
            {
                var plan = _plan.FindState(sr.Name)!;
                int max = _values.Int(plan.Arg("max")!);
                state = new AdaptiveLength(_values.Int(plan.Arg("min"), 1), max, _values.Int(plan.Arg("initial"), max));
                _adaptive[sr.Name] = state;
            }
            _adaptiveDrafts.Add((proposer, state));
        }
        return proposer;
    }

    private NgramPoolProposer Pool(DecodePlan plan, PoolMatchProposer m, ParamValues values)
    {
        var state = plan.FindState(m.State) ?? throw new InvalidOperationException($"Unknown state '{m.State}'.");
        return new NgramPoolProposer(values.Int(state.Arg("size") ?? Literal.Int(3)), values.Int(m.Guesses));
    }

    private static MedusaProposer Heads(DecodePlan plan, HeadsProposer h, ModelSet models)
    {
        var heads = models.Heads(h.Model);
        var role = plan.FindModel(h.Model);
        var target = role?.Target is { } t ? models.Model(t) : null;
        if (h.Tree is null) return MedusaProposer.Chain(heads, target, heads.Count);
        return new MedusaProposer(heads, target, h.Tree.Parents.ToArray(), h.Tree.Depths.ToArray(), h.Tree.Choices.ToArray());
    }

    public void Dispose()
    {
        foreach (var p in _proposers) p.Dispose();
        _rejection?.Dispose();
        _typical?.Dispose();
        _session.Dispose();
    }
}
