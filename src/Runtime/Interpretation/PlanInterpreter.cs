using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Acceptance;
using Pardec.Runtime.Primitives.Proposers;
using Pardec.Runtime.Primitives.State;
using Pardec.Dsl.Primitives;
using TorchSharp;
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

    /// <param name="registry">The runtime types the plan's primitives may name; <see cref="PrimitiveRegistry.Default"/> unless an app adds its own.</param>
    public static IDecoder Create(DecodePlan plan, ModelSet models, IReadOnlyDictionary<string, string>? parameters = null,
                                  int maxLength = DefaultMaxLength, PrimitiveRegistry? registry = null)
    {
        var values = new ParamValues(plan, parameters);
        return plan.Step switch
        {
            CausalStepPlan causal when plan.Canvas.Batch is not null => new InterpretedBatchedDecoder(plan, causal, models, values, maxLength),
            CausalStepPlan causal => new InterpretedCausalDecoder(plan, causal, models, values, maxLength, registry ?? PrimitiveRegistry.Default),
            MaskedStepPlan masked => new InterpretedMaskedDecoder(plan, masked, models, values, maxLength, registry ?? PrimitiveRegistry.Default),
            _ => throw new NotSupportedException($"Strategy '{plan.Name}': the interpreter does not run {plan.Canvas} canvases yet."),
        };
    }
}

/// <summary>
/// The reference engine for causal canvases: builds every primitive of the step from its resolved
/// <see cref="PrimitiveInstance"/> through the <see cref="PrimitiveRegistry"/>, then walks the step each iteration —
/// bindings, propose, verify, accept, commit, observe, updates — exactly the calls a generated decoder writes out.
/// </summary>
internal sealed class InterpretedCausalDecoder : IDecoder
{
    private readonly DecodePlan _plan;
    private readonly CausalSession _session;
    private readonly IProposer[] _proposers;
    private readonly ILengthState[] _states;
    private readonly IAcceptanceRule _accept;
    private readonly IProposer? _sampledDraft;
    private readonly (Action<int> Set, ILengthState State)[] _bindings;
    private readonly Action<CausalSession>[] _updates;
    private readonly IDisposable[] _owned;
    private readonly bool _needsHidden;
    private readonly int? _maxTokens;
    private readonly bool _stopOnEos;
    private readonly double? _temperature;
    private readonly Constraints.IStrategyConstraint? _constraint;

    public InterpretedCausalDecoder(DecodePlan plan, CausalStepPlan step, ModelSet models, ParamValues values, int maxLength, PrimitiveRegistry registry)
    {
        _plan = plan;
        var target = models.Model(step.Verify.Model);
        // Sized exactly as the generator sizes it: the binder's worst-case width plus the root — unless a build-time
        // param was overridden, which the binder's widths (computed from defaults) do not cover: then the declared
        // max_width, so a longer draft is verified whole instead of being cut at the default's width.
        int capacity = (values.ResizesProposals ? step.Verify.MaxWidth : step.Verify.Width) + 1;
        _session = new CausalSession(target, maxLength, capacity);
        var context = new InstanceContext(models, values, maxLength, capacity, _session.Sampler);

        var built = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var instance in step.Instances) built[instance.Field] = registry.Create(instance, context);
        object Built(PrimitiveInstance i) => built[i.Field];

        _constraint = step.Instances.Where(i => i.Role == PrimitiveRole.Constraint).Select(i => (Constraints.IStrategyConstraint)Built(i)).SingleOrDefault();
        _states = step.Instances.Where(i => i.Role == PrimitiveRole.State).Select(i => (ILengthState)Built(i)).ToArray();
        var proposers = step.Instances.Where(i => i.Role == PrimitiveRole.Proposer).ToArray();
        _proposers = proposers.Select(i => (IProposer)Built(i)).ToArray();
        _accept = step.Instances.Where(i => i.Role == PrimitiveRole.Acceptance).Select(i => (IAcceptanceRule)Built(i)).Single();
        _sampledDraft = proposers.Where(i => i.ProvidesDistributions).Select(i => (IProposer)Built(i)).FirstOrDefault();
        _needsHidden = proposers.Any(i => i.NeedsHidden);
        _bindings = step.Instances.SelectMany(i => i.Bindings.Select(b => (Setter(Built(i), b.Property), (ILengthState)built[b.State]))).ToArray();
        _updates = step.Instances.SelectMany(i => i.Updates.Select(u => Update(Built(i), u, built))).ToArray();
        _owned = step.Instances.Select(Built).OfType<IDisposable>().ToArray();
        _temperature = step.Instances.SelectMany(i => i.Options).Where(o => o.Option == nameof(GenerationOptions.Temperature))
            .Select(o => (double?)values.Evaluate(o.Value)).FirstOrDefault();

        foreach (var stop in plan.Stops)
            if (stop is MaxTokensStop { Limit: { } limit }) _maxTokens = values.Int(limit);
        _stopOnEos = plan.Stops.IsEmpty || plan.Stops.Any(s => s is EosStop);
    }

    /// <summary>Sets the named int property of a built primitive: compiled once, so a step neither reflects nor boxes.</summary>
    private static Action<int> Setter(object target, string property)
    {
        var value = System.Linq.Expressions.Expression.Parameter(typeof(int), "value");
        var assign = System.Linq.Expressions.Expression.Assign(
            System.Linq.Expressions.Expression.Property(System.Linq.Expressions.Expression.Constant(target), property), value);
        return System.Linq.Expressions.Expression.Lambda<Action<int>>(assign, value).Compile();
    }

    /// <summary>An update after each step, bound once: a pool learning from a Jacobi window, a length adapting to acceptance.</summary>
    private static Action<CausalSession> Update(object target, InstanceUpdate update, Dictionary<string, object> built) => (target, update.From) switch
    {
        (NgramPoolProposer pool, { } from) when update.Call == nameof(NgramPoolProposer.AddFromJacobi) && built[from] is RuntimeJacobi jacobi =>
            s => pool.AddFromJacobi(s.Context, jacobi),
        (ILengthState length, null) when update.Call == nameof(ILengthState.Update) =>
            s => length.Update(s.ProposedLastStep, s.Outcome.AcceptedCount),
        _ => throw new NotSupportedException($"The interpreter has no update '{update}' for {target.GetType().Name}."),
    };

    public string Strategy => _plan.Name;
    public string PlanText => _plan.Print();

    public DecodeResult Generate(ReadOnlySpan<int> prompt, GenerationOptions options, IDecodeObserver? observer = null,
                                 CancellationToken cancellationToken = default)
    {
        options = StrategyOptions.Apply(options, _maxTokens, _stopOnEos);
        if (_temperature is double temperature) options = options with { Temperature = temperature };
        if (_constraint is not null) options = _constraint.Apply(options);
        using var noGrad = torch.no_grad();
        var s = _session;
        s.Start(prompt, options);
        foreach (var state in _states) state.Reset();
        foreach (var p in _proposers) p.Reset(s.Context);
        while (!s.Done)
        {
            if (cancellationToken.IsCancellationRequested) { s.Stop(StopReason.Cancelled); break; }
            foreach (var (set, state) in _bindings) set(state.Current);
            s.BeginStep();
            for (int i = 0; i < _proposers.Length; i++) _proposers[i].Propose(s.Context, s.Tree, i);
            using (var verified = s.Verify(_needsHidden))
            {
                _accept.Accept(s.Tree, verified.Logits, (_sampledDraft as DraftModelProposer)?.Distributions, s.Sampler, s.Outcome);
                s.Commit(verified);
            }
            foreach (var p in _proposers) p.Observe(s.Context, s.Tree, s.Outcome);
            foreach (var update in _updates) update(s);
            if (observer is not null && !observer.OnStep(DecodeStepView.FromCausal(s))) s.Stop(StopReason.StopString);
        }
        int draftForwards = 0;
        foreach (var p in _proposers)
            if (p is IDraftCounter counter) draftForwards += counter.DraftForwards;
        return s.Result(draftForwards);
    }

    public void Dispose()
    {
        foreach (var owned in _owned) owned.Dispose();
        _session.Dispose();
    }
}
