using Pardec.Runtime.Tokenization;
using Xunit;
using static Pardec.Runtime.Tests.Tokenization.RealTokenizers;

namespace Pardec.Runtime.Tests.Tokenization;

/// <summary>Streaming detokenisation over the real tokenizers: byte-level BPE (Qwen3, Llama 3, DeepSeek V3) and byte
/// fallback (Llama 2, Gemma 3) both split one character over several ids.</summary>
[Collection(RealTokenizerCollection.Name)]
public sealed class StreamingDetokenizerTests(RealTokenizers real)
{
    private static List<string> Stream(TextTokenizer tokenizer, int[] ids, int capacity = 1024)
    {
        var stream = tokenizer.CreateStreamingDetokenizer(capacity);
        var pieces = ids.Select(stream.Push).ToList();
        pieces.Add(stream.Flush());
        return pieces;
    }

    [Theory]
    [MemberData(nameof(All), MemberType = typeof(RealTokenizers))]
    public void Streamed_pieces_concatenate_to_the_decoding_for_every_reference_string(string name)
    {
        var tokenizer = real.Get(name);
        var failures = new List<string>();
        foreach (var c in real.Reference(name).Cases.Where(c => c.Ids.Length > 0))
        {
            var pieces = Stream(tokenizer, c.Ids, capacity: 4); // small: the window slides over long strings
            string joined = string.Concat(pieces);
            if (joined != c.Decoded) failures.Add($"{Show(c.Text)}: expected {Show(c.Decoded)}, got {Show(joined)}");
            else if (!c.Decoded.Contains('\uFFFD') && pieces.Any(p => p.Contains('\uFFFD')))
                failures.Add($"{Show(c.Text)}: a piece holds half a character: {string.Join(" | ", pieces.Select(Show))}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} strings stream wrongly:\n" + string.Join("\n", failures.Take(8)));
    }

    // One character whose UTF-8 bytes are split over several ids in each tokenizer (checked by the test itself).
    public static TheoryData<string, string> SplitCharacters => new()
    {
        { "llama2", "🦀" },        // byte fallback: <0xF0><0x9F><0xA6><0x80>
        { "llama2", "𠀀" },
        { "gemma3", "𠀂" },
        { "qwen3", "𠀀" },         // byte-level: the character's bytes are separate BPE tokens
        { "llama3_1", "🦀" },
        { "deepseek_v3", "𠀁" },
    };

    [Theory]
    [MemberData(nameof(SplitCharacters))]
    public void A_character_split_over_ids_is_held_back_until_its_last_byte(string name, string character)
    {
        var tokenizer = real.Get(name);
        string text = "ab " + character + " cd";
        int[] ids = tokenizer.Encode(text);
        int pieces0 = tokenizer.Encode(character).Count(id => tokenizer.IdToToken(id) != "▁"); // not the prepended space
        Assert.True(pieces0 > 1, $"{Show(character)} is a single token in {name}: pick a rarer character for this test");
        var pieces = Stream(tokenizer, ids);
        Assert.Equal(text, string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Contains(pieces.Take(ids.Length), p => p.Length == 0); // held back while the character was incomplete
        Assert.Single(pieces, p => p.Contains(character));
    }

    [Fact]
    public void Llama2_byte_fallback_emits_an_emoji_only_with_its_fourth_byte()
    {
        var tokenizer = real.Get("llama2");
        int[] bytes = ((string[])["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]).Select(t => tokenizer.TokenToId(t)!.Value).ToArray();
        var stream = tokenizer.CreateStreamingDetokenizer();
        Assert.Equal(["", "", "", "😀"], bytes.Select(stream.Push).ToArray());
    }
}
