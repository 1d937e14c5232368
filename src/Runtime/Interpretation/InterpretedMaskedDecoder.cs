using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Masked;
using Pardec.Runtime.Masked.Commit;
using TorchSharp;
using RuntimeAdaptiveBlock = Pardec.Runtime.Masked.AdaptiveBlock;
using RuntimeEotStop = Pardec.Runtime.Masked.EotStop;

namespace Pardec.Runtime.Interpretation;

/// <summary>
/// The reference engine for masked canvases: the same primitives and call order a generated masked decoder writes out
/// (predict → [adaptive block] → [end-of-text] → commit rule → commit → [credit update]).
/// </summary>
internal sealed class InterpretedMaskedDecoder : IDecoder
{
    /// <summary>Drafts per verification of the lossless draft-and-verify rule (one batched forward of this many canvases).</summary>
    public const int DraftVerifyDrafts = PrimitiveLibrary.DraftVerifyDrafts;

    private readonly DecodePlan _plan;
    private readonly MaskedSession _session;
    private readonly Action<MaskedSession> _select;
    private readonly Action<MaskedSession>[] _updates;
    private readonly IDisposable[] _owned;
    private readonly RuntimeAdaptiveBlock? _block;
    private readonly RuntimeEotStop? _eot;
    private readonly int? _maxTokens;
    private readonly bool _stopOnEos;
    private readonly Constraints.IStrategyConstraint? _constraint;

    public InterpretedMaskedDecoder(DecodePlan plan, MaskedStepPlan step, ModelSet models, ParamValues values, int maxLength, PrimitiveRegistry registry)
    {
        _plan = plan;
        var model = models.Model(step.Predict);
        int blockSize = values.Int(plan.Canvas.BlockSize ?? Literal.Int(32));
        int maxBlock = step.Block is AdaptiveBlockPlan ab ? values.Int(ab.Max) : blockSize;
        var denoiser = plan.Models.FirstOrDefault(m => m.Role == step.Predict)?.Denoiser;
        MaskedDenoiser.Check(model, plan.Name, step.Predict, denoiser?.BlockCausal is { } block ? values.Int(block) : null,
                             denoiser?.Shifted is { } shifted ? values.Evaluate(shifted) != 0 : null);
        _session = new MaskedSession(model, maxLength, blockSize, MaskedDecoding.CacheMode(plan.Canvas.Cache), maxBlock);
        if (step.Block is AdaptiveBlockPlan adaptive)
            _block = new RuntimeAdaptiveBlock(values.Int(adaptive.Min), values.Int(adaptive.Max), _session.EosToken, values.Float(adaptive.Delimiter, 0.3));
        foreach (var stop in plan.Stops)
        {
            if (stop is EotStopPlan eot) _eot = new RuntimeEotStop(values.Evaluate(eot.Threshold));
            if (stop is MaxTokensStop { Limit: { } limit }) _maxTokens = values.Int(limit);
        }
        _stopOnEos = plan.Stops.IsEmpty || plan.Stops.Any(s => s is EosStop);

        // The commit rule and the states it reads come from their resolved instances, built through the registry.
        var context = new InstanceContext(models, values, maxLength, 0, null!, _session);
        var built = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var instance in step.Instances) built[instance.Field] = registry.Create(instance, context with { Built = built });
        var rule = step.Instances.Single(i => i.Role == PrimitiveRole.Commit);
        var target = built[rule.Field];
        if (rule.SelectsOnSession)
        {
            _select = (Action<MaskedSession>)Delegate.CreateDelegate(typeof(Action<MaskedSession>), target, "Select");
        }
        else
        {
            var select = (BlockSelect)Delegate.CreateDelegate(typeof(BlockSelect), target, "Select");
            _select = s => select(s.Block, s.Selection);
        }
        _updates = step.Instances.SelectMany(i => i.Updates.Select(u => (Action<MaskedSession>)Delegate.CreateDelegate(typeof(Action<MaskedSession>), built[i.Field], u.Call))).ToArray();
        _owned = step.Instances.Where(i => i.Disposable).Select(i => (IDisposable)built[i.Field]).ToArray();
        _constraint = step.Instances.Where(i => i.Role == PrimitiveRole.Constraint).Select(i => (Constraints.IStrategyConstraint)built[i.Field]).SingleOrDefault();
    }

    /// <summary>A commit rule that selects from the block (most rules): <c>Select(in MaskedBlock, MaskedSelection)</c>.</summary>
    private delegate void BlockSelect(in MaskedBlock block, MaskedSelection selection);

    public string Strategy => _plan.Name;
    public string PlanText => _plan.Print();

    public DecodeResult Generate(ReadOnlySpan<int> prompt, GenerationOptions options, IDecodeObserver? observer = null,
                                 CancellationToken cancellationToken = default)
    {
        options = StrategyOptions.Apply(options, _maxTokens, _stopOnEos);
        if (_constraint is not null) options = _constraint.Apply(options);
        using var noGrad = torch.no_grad();
        var s = _session;
        s.Start(prompt, MaskedDecoding.GenerationLength(s, prompt.Length, options), MaskedDecoding.Sampling(options), options.Constraint);
        int reported = 0;
        while (!s.Done)
        {
            if (cancellationToken.IsCancellationRequested) { s.Stop(StopReason.Cancelled); break; }
            s.BeginStep();
            if (!s.HasPredictions) s.Predict();
            if (_block is not null && s.AtBlockStart) _block.Apply(s);
            if (_eot is not null && _eot.ShouldStop(s)) s.CommitEndOfText();
            else
            {
                s.Selection.Clear();
                _select(s);
                s.Commit();
                foreach (var update in _updates) update(s);
            }
            if (observer is not null && !observer.OnStep(MaskedDecoding.StepView(s, ref reported))) s.Stop(StopReason.StopString);
        }
        return MaskedDecoding.Result(s);
    }

    public void Dispose()
    {
        foreach (var owned in _owned) owned.Dispose();
        _session.Dispose();
    }
}
