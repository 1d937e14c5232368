using Pardec.Runtime.Models;

namespace Pardec.Server.Batching;

/// <summary>The models and shape of a continuously batched deployment.</summary>
/// <param name="Target">The verified model.</param>
/// <param name="Draft">The draft model of a draft-chain strategy (the target itself with <paramref name="DraftSkip"/> for self-speculation); null for plain decoding.</param>
/// <param name="DraftLength">Tokens drafted per step (0 without a draft).</param>
/// <param name="Batch">Rows decoded together: the most requests running at once.</param>
/// <param name="ContextLength">Most tokens a request's prompt and reply hold together (the model's positions).</param>
/// <param name="PrefillChunk">Most prompt tokens a row feeds per step (Sarathi-Serve's chunked prefill): a long prompt
/// joins over several steps, so the running rows keep producing tokens and time to first token stays bounded.</param>
/// <param name="Speculation">When greedy rows draft (a draft-chain strategy only).</param>
public sealed record BatchEngineOptions(ICausalLM Target, ICausalLM? Draft, LayerSkip? DraftSkip, int DraftLength, int Batch,
                                        int ContextLength, int PrefillChunk = 32, SpeculationMode Speculation = SpeculationMode.Always)
{
    /// <summary>Slots per row in the caches: room for a full context plus as much again of holes before a compaction.</summary>
    public int Slots => 2 * ContextLength + MaxWidth;

    /// <summary>The widest forward: a prefill chunk, or a root plus its drafts.</summary>
    public int MaxWidth => Math.Max(PrefillChunk, DraftLength + 1);

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(PrefillChunk);
        ArgumentOutOfRangeException.ThrowIfNegative(DraftLength);
        if (ContextLength < 2) throw new ArgumentOutOfRangeException(nameof(ContextLength), ContextLength, "must be at least 2");
        if ((Draft is null) != (DraftLength == 0))
            throw new ArgumentException("A draft model and a draft length go together.", nameof(DraftLength));
    }
}
