using Pardec.Runtime.Primitives;

namespace Pardec.Runtime.Decoding;

/// <summary>
/// A decoder for one strategy, bound to its models. Every generated decoder implements it, and so does the
/// DecodePlan interpreter, which is the reference the generated code must match token for token.
/// A decoder owns its KV caches and buffers: it is reusable across calls but not thread-safe; give each concurrent
/// generation its own decoder (models can be shared).
/// </summary>
public interface IDecoder : IDisposable
{
    /// <summary>The strategy's name as declared.</summary>
    string Strategy { get; }

    /// <summary>The strategy's plan, printed (what the loop does).</summary>
    string PlanText { get; }

    /// <summary>Decodes after <paramref name="prompt"/> (token ids, BOS included if the model wants one).</summary>
    DecodeResult Generate(ReadOnlySpan<int> prompt, GenerationOptions options, IDecodeObserver? observer = null,
                          CancellationToken cancellationToken = default);
}

/// <summary>Sees every step of a decode (streaming, stop strings, traces). Return false to end the decode.</summary>
public interface IDecodeObserver
{
    bool OnStep(in DecodeStepView step);
}

/// <summary>
/// One committed step, valid only during <see cref="IDecodeObserver.OnStep"/>: the verified candidate tree (causal
/// canvases), the accepted nodes, and the tokens this step committed.
/// </summary>
public readonly ref struct DecodeStepView
{
    public DecodeStepView(int step, ReadOnlySpan<int> committed, ReadOnlySpan<int> generatedSoFar,
                          ReadOnlySpan<int> treeTokens, ReadOnlySpan<int> treeParents, ReadOnlySpan<int> treeSources,
                          ReadOnlySpan<int> acceptedNodes, ReadOnlySpan<int> committedPositions = default)
    {
        Step = step;
        Committed = committed;
        Generated = generatedSoFar;
        TreeTokens = treeTokens;
        TreeParents = treeParents;
        TreeSources = treeSources;
        AcceptedNodes = acceptedNodes;
        CommittedPositions = committedPositions;
    }

    public int Step { get; }

    /// <summary>Tokens this step added to the output, in order.</summary>
    public ReadOnlySpan<int> Committed { get; }

    /// <summary>Everything generated so far (this step included).</summary>
    public ReadOnlySpan<int> Generated { get; }

    /// <summary>The verified tree: node 0 is the root; empty on masked canvases.</summary>
    public ReadOnlySpan<int> TreeTokens { get; }
    public ReadOnlySpan<int> TreeParents { get; }

    /// <summary>Which proposer (index in the step's propose list) added each node; the root is -1.</summary>
    public ReadOnlySpan<int> TreeSources { get; }

    public ReadOnlySpan<int> AcceptedNodes { get; }

    /// <summary>Masked canvases: the generation offsets the committed tokens were written at.</summary>
    public ReadOnlySpan<int> CommittedPositions { get; }

    public static DecodeStepView FromCausal(CausalSession session)
    {
        var generated = session.Context.Generated;
        int committed = Math.Min(session.LastCommitted, generated.Length);
        return new DecodeStepView(session.Steps, generated.Slice(generated.Length - committed), generated,
            session.Tree.Tokens, session.Tree.Parents, session.Tree.Sources, session.Outcome.AcceptedNodes);
    }
}
