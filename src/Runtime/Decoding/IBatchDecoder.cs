namespace Pardec.Runtime.Decoding;

/// <summary>
/// A decoder whose canvas holds several sequences at once (<c>canvas causal(batch: n)</c>): every step verifies all rows
/// in one target forward, and rows accept different numbers of tokens. <see cref="IDecoder.Generate"/> decodes one prompt
/// (as a batch of copies); <see cref="GenerateBatch"/> up to <see cref="Batch"/> prompts together.
/// </summary>
public interface IBatchDecoder : IDecoder
{
    int Batch { get; }

    /// <summary>One result per prompt, in order; each row stops on its own (EOS, budget) while the others go on.</summary>
    IReadOnlyList<DecodeResult> GenerateBatch(IReadOnlyList<int[]> prompts, GenerationOptions options, CancellationToken cancellationToken = default);
}
