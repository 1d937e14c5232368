using Pardec.Runtime.Loading;

namespace Pardec.Cli.Models;

/// <summary>
/// A draft (or any second causal model of a strategy) proposes token ids that the target verifies, so the two must
/// mean the same thing by every id. Checked before decoding, naming both directories and what differs: the vocabulary
/// sizes of the tokenizers (or, without one, of the embeddings), then the token strings of the ids both can produce.
/// </summary>
internal static class DraftCompatibility
{
    public static void Check(PretrainedModel target, PretrainedModel draft, string role)
    {
        if (ReferenceEquals(target, draft)) return;
        string Where() => $"the {role} model in {draft.Directory} and the target in {target.Directory}";
        var t = target.Tokenizer;
        var d = draft.Tokenizer;
        // Ids the target's tokenizer can produce must all be rows of the draft's embedding (vocab_size may be padded).
        int targetIds = t?.VocabSize ?? target.Config.VocabSize;
        if (draft.Config.VocabSize < targetIds)
            throw new CliException($"{Where()} do not share a vocabulary: the target's tokenizer has {targetIds} ids but the {role}'s vocab_size is {draft.Config.VocabSize}");
        if (t is null || d is null) return;
        if (t.VocabSize != d.VocabSize)
            throw new CliException($"{Where()} do not share a tokenizer: {d.VocabSize} ids in {Path.GetFileName(d.SourcePath)} vs {t.VocabSize} in {Path.GetFileName(t.SourcePath)}");
        for (int id = 0; id < t.VocabSize; id++)
        {
            string? a = t.IdToToken(id), b = d.IdToToken(id);
            if (!string.Equals(a, b, StringComparison.Ordinal))
                throw new CliException($"{Where()} do not share a tokenizer: id {id} is '{a ?? "(none)"}' for the target but '{b ?? "(none)"}' for the {role}");
        }
    }
}
