using Pardec.Runtime.Loading;

namespace Pardec.Runtime.Tokenization;

/// <summary>
/// Whether two models can share token ids: a draft model, Medusa heads or a layer-skip model proposes ids that the
/// target verifies, so every id must mean the same token in both. Checked before decoding, because a mismatch does not
/// crash: it silently turns every proposal into a rejection (or, past the target's vocabulary, into an index error
/// deep in a kernel).
/// </summary>
public static class TokenizerCompatibility
{
    /// <summary>What differs between the two vocabularies (size, or the first ids whose tokens differ), or null when
    /// every id means the same token in both.</summary>
    public static string? Difference(TextTokenizer target, TextTokenizer draft)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(draft);
        if (ReferenceEquals(target, draft)) return null;
        if (target.VocabSize != draft.VocabSize)
            return $"the vocabularies differ in size: {target.VocabSize} tokens ({target.Kind}) vs {draft.VocabSize} ({draft.Kind})";
        var differing = new List<string>();
        int count = 0;
        for (int id = 0; id < target.VocabSize; id++)
        {
            string? a = Token(target, id), b = Token(draft, id);
            if (a == b) continue;
            if (count++ < 3) differing.Add($"id {id} is {Show(a)} vs {Show(b)}");
        }
        if (count > 0)
            return $"{count} of {target.VocabSize} ids map to different tokens ({string.Join("; ", differing)}{(count > 3 ? "; …" : "")})";
        return null;
    }

    /// <summary>Throws <see cref="ModelLoadException"/> naming both directories and what differs when the draft's
    /// tokenizer does not match the target's.</summary>
    public static void Require(TextTokenizer target, string targetDirectory, TextTokenizer draft, string draftDirectory)
    {
        if (Difference(target, draft) is string difference)
            throw new ModelLoadException(draftDirectory, "tokenizer",
                $"the draft's tokenizer ({draft.SourcePath}) does not match the target's in {targetDirectory} " +
                $"({target.SourcePath}): {difference}");
    }

    // The vocabulary entry, else (GPT-2's tiktoken keeps its vocabulary internal) the decoded text.
    private static string? Token(TextTokenizer t, int id)
    {
        if (t.IdToToken(id) is string token) return token;
        try { return t.Decode([id]) is { Length: > 0 } text ? "text:" + text : null; }
        catch (ArgumentException) { return null; }
    }

    private static string Show(string? token) => token is null ? "(none)" : $"'{token}'";
}
