namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>A proposer that runs a draft model: its forwards are counted in <see cref="Decoding.DecodeStats"/>.</summary>
public interface IDraftCounter
{
    /// <summary>Draft forwards since the last <c>Reset</c>.</summary>
    int DraftForwards { get; }
}
