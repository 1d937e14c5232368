using Pardec.Runtime.Decoding;

namespace Pardec.Cli.Trace;

/// <summary>One decode step, copied out of the observer's spans: the verified tree, what was accepted, what committed.</summary>
public sealed record TraceStep(int Step, int[] TreeTokens, int[] TreeParents, int[] TreeSources, int[] AcceptedNodes, int[] Committed, int[] Positions)
{
    /// <summary>Committed text, attributed to this step by the streaming detokenizer.</summary>
    public string Text { get; set; } = "";
}

/// <summary>Records every step of a decode; the text each step commits arrives through <see cref="OnText"/> right after.</summary>
public sealed class TraceRecorder : IDecodeObserver
{
    public List<TraceStep> Steps { get; } = [];

    public bool OnStep(in DecodeStepView step)
    {
        Steps.Add(new TraceStep(step.Step, step.TreeTokens.ToArray(), step.TreeParents.ToArray(), step.TreeSources.ToArray(),
                                step.AcceptedNodes.ToArray(), step.Committed.ToArray(), step.CommittedPositions.ToArray()));
        return true;
    }

    // TextDecoder calls the observer first and then emits the text that step produced; text flushed at the end
    // (a held-back partial character) belongs to the last step.
    public void OnText(string piece)
    {
        if (Steps.Count == 0) return;
        Steps[^1].Text += piece;
    }
}
