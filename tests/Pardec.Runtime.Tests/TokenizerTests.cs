using Pardec.Runtime.Tokenization;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;

namespace Pardec.Runtime.Tests;

public sealed class TokenizerTests
{
    private const string Multilingual = "Hello world, naïve café — Жук 日本語 😀!";

    [Fact]
    public void Gpt2_ids_for_hello_world_are_15496_995()
    {
        var tokenizer = TextTokenizer.Gpt2();
        Assert.Equal([15496, 995], tokenizer.Encode("Hello world"));
        Assert.Equal(50257, tokenizer.VocabSize);
        Assert.True(tokenizer.IsEos(50256));
    }

    public static TheoryData<string> Tokenizers => ["gpt2", "spm", "bpe"];

    private static TextTokenizer Create(string kind) => kind switch
    {
        "gpt2" => TextTokenizer.Gpt2(),
        "spm" => TextTokenizer.FromSentencePiece(Path.Combine(Fixture("spm"), "tokenizer.model")),
        _ => TextTokenizer.FromDirectory(Fixture("bpe"))!,
    };

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void Encode_then_decode_round_trips_multilingual_text(string kind)
    {
        var tokenizer = Create(kind);
        var ids = tokenizer.Encode(Multilingual);
        Assert.All(ids, id => Assert.InRange(id, 0, tokenizer.VocabSize - 1));
        Assert.Equal(Multilingual, tokenizer.Decode(ids));
    }

    [Fact]
    public void SentencePiece_adds_bos_only_when_asked()
    {
        var tokenizer = Create("spm");
        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal(1, tokenizer.Encode("hello", addBos: true)[0]);
        Assert.NotEqual(1, tokenizer.Encode("hello")[0]);
        Assert.Equal(400, tokenizer.VocabSize);
    }

    [Fact]
    public void Byte_level_bpe_from_vocab_and_merges_applies_the_merges()
    {
        var tokenizer = Create("bpe");
        var ids = tokenizer.Encode("Hello world");
        Assert.Equal(2, ids.Length); // "Hello" and "Ġworld" are single merged tokens in the fixture
        Assert.Equal("Hello world", tokenizer.Decode(ids));
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void Streaming_detokenizer_never_emits_half_a_character(string kind)
    {
        var tokenizer = Create(kind);
        var ids = tokenizer.Encode(Multilingual);
        var stream = tokenizer.CreateStreamingDetokenizer(capacity: 4); // small: exercises the window sliding
        var pieces = new List<string>();
        foreach (int id in ids) pieces.Add(stream.Push(id));
        pieces.Add(stream.Flush());
        Assert.Equal(Multilingual, string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Contains(pieces.Take(ids.Length), p => p.Length == 0); // some id ended mid-character and was held back
    }
}
