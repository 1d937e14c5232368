using Pardec.Training;
using Xunit;

namespace Pardec.Models.Tests;

/// <summary>The shared tokenizer keeps code intact and has the special ids the models' configs rely on.</summary>
public sealed class TokenizerTests
{
    private readonly Microsoft.ML.Tokenizers.SentencePieceTokenizer _tok = TokenizerFile.Load(Repo.Tokenizer);

    [Fact]
    public void Vocabulary_and_special_ids_are_the_documented_ones()
    {
        var ids = SpecialIds.From(_tok, Repo.Tokenizer);
        Assert.Equal(4096, TokenizerFile.VocabularySize(_tok));
        Assert.Equal((1, 2, 3, 4), (ids.Bos, ids.Eos, ids.Pad, ids.Mask));
    }

    [Theory]
    [InlineData("def f(x):\n    if x:\n\treturn {'a': 1}\n\n        pass  # trailing   spaces   \n")]
    [InlineData("And God said, Let there be light: and there was light.\nIn the beginning 1234 “quoted” — done")]
    public void Text_survives_a_round_trip_including_newlines_and_indentation(string text)
    {
        var ids = _tok.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false);
        Assert.Equal(text, _tok.Decode(ids));
    }

    [Fact]
    public void Newlines_are_byte_pieces_and_indentation_is_whole_pieces()
    {
        // spm_train never sees "\n" (it reads line by line), so it must come out as the <0x0A> byte-fallback piece;
        // four-space indentation should be one learned whitespace piece, not four.
        var ids = _tok.EncodeToIds("a\n    b", addBeginningOfSentence: false, addEndOfSentence: false);
        Assert.Contains(_tok.Vocabulary["<0x0A>"], ids);
        Assert.Contains(_tok.Vocabulary["▁▁▁▁"], ids);
    }
}
