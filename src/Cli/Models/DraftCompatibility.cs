using Pardec.Runtime.Loading;
using Pardec.Runtime.Tokenization;

namespace Pardec.Cli.Models;

/// <summary>
/// A draft (or any second causal model of a strategy) proposes token ids that the target verifies, so the two must mean
/// the same thing by every id: checked before decoding, naming both directories and what differs. With tokenizers on
/// both sides, their vocabularies are compared id by id (<see cref="TokenizerCompatibility"/>); without, the embedding
/// sizes must agree.
/// </summary>
internal static class DraftCompatibility
{
    public static void Check(PretrainedModel target, PretrainedModel draft, string role)
    {
        if (ReferenceEquals(target, draft)) return;
        if (target.Tokenizer is { } t && draft.Tokenizer is { } d)
        {
            if (TokenizerCompatibility.Difference(t, d) is string difference)
                throw new CliException($"the {role} model in {draft.Directory} does not share the tokenizer of the target in {target.Directory}: {difference}");
            return;
        }
        if (draft.Config.VocabSize != target.Config.VocabSize)
            throw new CliException($"the {role} model in {draft.Directory} (vocab_size {draft.Config.VocabSize}) does not share the vocabulary of the target in {target.Directory} (vocab_size {target.Config.VocabSize})");
    }
}
