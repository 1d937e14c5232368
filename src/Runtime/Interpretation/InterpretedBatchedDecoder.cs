using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives.Batched;
using TorchSharp;

namespace Pardec.Runtime.Interpretation;

/// <summary>
/// The reference engine for batched causal canvases (BASS-style batched speculative decoding): one draft chain per row,
/// all rows verified in one target forward, greedy acceptance per row with ragged accepted lengths.
/// </summary>
internal sealed class InterpretedBatchedDecoder : IBatchDecoder
{
    private readonly DecodePlan _plan;
    private readonly BatchedCausalSession _session;
    private readonly BatchedDraftChainProposer _proposer;
    private readonly BatchedGreedyAcceptance _accept;
    private readonly int? _maxTokens;

    public InterpretedBatchedDecoder(DecodePlan plan, CausalStepPlan step, ModelSet models, ParamValues values, int maxLength)
    {
        _plan = plan;
        if (step.Accept is not GreedyAccept)
            throw new NotSupportedException($"Strategy '{plan.Name}': batched canvases verify greedily; '{step.Accept}' is not available batched.");
        if (step.Proposers.Count != 1)
            throw new NotSupportedException($"Strategy '{plan.Name}': batched canvases take one draft-model proposer.");
        Batch = values.Int(plan.Canvas.Batch!);
        var target = models.Model(step.Verify.Model);
        (ICausalLM draft, Expr length, LayerSkip? skip) = step.Proposers[0] switch
        {
            DraftProposer d => (models.Model(d.Model), d.Length, (LayerSkip?)null),
            SelfDraftProposer s when plan.FindModel(s.Model) is { } role => (models.Model(role.Target!), s.Length, new LayerSkip(role.Skip!.Layers())),
            var other => throw new NotSupportedException($"Strategy '{plan.Name}': '{other}' is not available on batched canvases."),
        };
        int gamma = values.Int(length);
        _session = new BatchedCausalSession(target, Batch, maxLength, gamma);
        _proposer = new BatchedDraftChainProposer(draft, Batch, maxLength, gamma, skip);
        _accept = new BatchedGreedyAcceptance(Batch, gamma);
        foreach (var stop in plan.Stops)
            if (stop is MaxTokensStop { Limit: { } limit }) _maxTokens = values.Int(limit);
    }

    public int Batch { get; }
    public string Strategy => _plan.Name;
    public string PlanText => _plan.Print();

    public DecodeResult Generate(ReadOnlySpan<int> prompt, GenerationOptions options, IDecodeObserver? observer = null,
                                 CancellationToken cancellationToken = default) =>
        GenerateBatch([prompt.ToArray()], options, cancellationToken)[0];

    public IReadOnlyList<DecodeResult> GenerateBatch(IReadOnlyList<int[]> prompts, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        options = StrategyOptions.Apply(options, _maxTokens, stopOnEos: true);
        if (!options.IsGreedy) throw new NotSupportedException($"Strategy '{_plan.Name}' decodes greedily; set the temperature to 0.");
        using var noGrad = torch.no_grad();
        var s = _session;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        s.Start(BatchedDecoding.Fill(prompts, Batch), options);
        _proposer.Reset(s.Context);
        bool cancelled = false;
        while (!s.Done)
        {
            if (cancellationToken.IsCancellationRequested) { cancelled = true; break; }
            s.BeginStep();
            _proposer.Propose(s.Context, s.Chain);
            using (var verified = s.Verify()) _accept.Accept(s.Chain, verified.Logits, s.Outcome);
            s.Commit();
            _proposer.Observe(s.Context, s.Outcome);
        }
        return BatchedDecoding.Results(s, prompts.Count, _proposer.DraftForwards, System.Diagnostics.Stopwatch.GetElapsedTime(started), cancelled);
    }

    public void Dispose()
    {
        _accept.Dispose();
        _proposer.Dispose();
        _session.Dispose();
    }
}
