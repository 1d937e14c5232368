using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Masked;
using Pardec.Runtime.Masked.Commit;
using TorchSharp;
using AdaptiveBlockPlan = Pardec.Dsl.Plan.AdaptiveBlock;
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
    public const int DraftVerifyDrafts = 8;

    private readonly DecodePlan _plan;
    private readonly MaskedSession _session;
    private readonly Func<MaskedSession, bool> _select;
    private readonly CreditState? _credits;
    private readonly bool _updateCredits;
    private readonly RuntimeAdaptiveBlock? _block;
    private readonly RuntimeEotStop? _eot;
    private readonly IDisposable? _ownedRule;
    private readonly int? _maxTokens;
    private readonly bool _stopOnEos;

    public InterpretedMaskedDecoder(DecodePlan plan, MaskedStepPlan step, ModelSet models, ParamValues values, int maxLength)
    {
        _plan = plan;
        var model = models.Model(step.Predict);
        int blockSize = values.Int(plan.Canvas.BlockSize ?? Literal.Int(32));
        int maxBlock = step.Block is AdaptiveBlockPlan ab ? values.Int(ab.Max) : blockSize;
        _session = new MaskedSession(model, maxLength, blockSize, MaskedDecoding.CacheMode(plan.Canvas.Cache), maxBlock);
        if (step.Block is AdaptiveBlockPlan adaptive)
            _block = new RuntimeAdaptiveBlock(values.Int(adaptive.Min), values.Int(adaptive.Max), _session.EosToken, values.Float(adaptive.Delimiter, 0.3));
        foreach (var stop in plan.Stops)
        {
            if (stop is Dsl.Plan.EotStop eot) _eot = new RuntimeEotStop(values.Evaluate(eot.Threshold));
            if (stop is MaxTokensStop { Limit: { } limit }) _maxTokens = values.Int(limit);
        }
        _stopOnEos = plan.Stops.IsEmpty || plan.Stops.Any(s => s is EosStop);

        int AtLeast(Expr? e) => values.Int(e, 1);
        switch (step.Commit)
        {
            case Dsl.Plan.OneCommit:
                var one = new Masked.Commit.OneCommit();
                _select = s => { one.Select(s.Block, s.Selection); return true; };
                break;
            case Dsl.Plan.TopKCommit k:
                var topK = new Masked.Commit.TopKCommit(values.Int(k.K));
                _select = s => { topK.Select(s.Block, s.Selection); return true; };
                break;
            case Dsl.Plan.ConfidenceCommit c:
                var confidence = new Masked.Commit.ConfidenceCommit(values.Evaluate(c.Threshold), AtLeast(c.AtLeast));
                _select = s => { confidence.Select(s.Block, s.Selection); return true; };
                break;
            case Dsl.Plan.FactorCommit f:
                var factor = new Masked.Commit.FactorCommit(values.Evaluate(f.Factor), AtLeast(f.AtLeast));
                _select = s => { factor.Select(s.Block, s.Selection); return true; };
                break;
            case Dsl.Plan.MarginCommit m:
                var margin = new Masked.Commit.MarginCommit(values.Evaluate(m.Margin), AtLeast(m.AtLeast));
                _select = s => { margin.Select(s.Block, s.Selection); return true; };
                break;
            case Dsl.Plan.LocalCommit l:
                var local = new Masked.Commit.LocalCommit(values.Evaluate(l.Anchor), values.Int(l.Radius), AtLeast(l.AtLeast));
                _select = s => { local.Select(s.Block, s.Selection); return true; };
                break;
            case Dsl.Plan.CreditCommit cr:
                var state = plan.FindState(cr.State) ?? throw new InvalidOperationException($"Unknown state '{cr.State}'.");
                _credits = new CreditState(_session, values.Float(state.Arg("decay"), 0.9));
                var credit = new Masked.Commit.CreditCommit(_credits, values.Evaluate(cr.Threshold), AtLeast(cr.AtLeast));
                _select = s => { credit.Select(s); return true; };
                _updateCredits = step.Updates.Any(u => u.State == cr.State);
                break;
            case Dsl.Plan.DraftVerifyCommit:
                var draftVerify = new Masked.Commit.DraftVerifyCommit(_session, DraftVerifyDrafts);
                _ownedRule = draftVerify;
                _select = s => { draftVerify.Select(s); return true; };
                break;
            default:
                throw new NotSupportedException($"The interpreter has no commit rule '{step.Commit}'.");
        }
    }

    public string Strategy => _plan.Name;
    public string PlanText => _plan.Print();

    public DecodeResult Generate(ReadOnlySpan<int> prompt, GenerationOptions options, IDecodeObserver? observer = null,
                                 CancellationToken cancellationToken = default)
    {
        options = StrategyOptions.Apply(options, _maxTokens, _stopOnEos);
        using var noGrad = torch.no_grad();
        var s = _session;
        s.Start(prompt, MaskedDecoding.GenerationLength(s, prompt.Length, options), MaskedDecoding.Sampling(options));
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
                if (_updateCredits) _credits!.Update(s);
            }
            if (observer is not null && !observer.OnStep(MaskedDecoding.StepView(s, ref reported))) s.Stop(StopReason.StopString);
        }
        return MaskedDecoding.Result(s);
    }

    public void Dispose()
    {
        _ownedRule?.Dispose();
        _credits?.Dispose();
        _session.Dispose();
    }
}
