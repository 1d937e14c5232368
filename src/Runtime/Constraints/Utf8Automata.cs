using Fare;
using Pardec.Dsl.Constraints;

namespace Pardec.Runtime.Constraints;

/// <summary>
/// Builds Fare automata over <em>bytes</em>: every automaton of the constraint compilers reads UTF-8 bytes, one Fare
/// char (0–255) per byte, so a token's bytes can be walked through the DFA directly — tokens split characters (byte
/// fallback, byte-level BPE), so matching tokens against a char automaton would be wrong. Fare has no notion of an
/// encoding; this is where a set of code points becomes the alternatives of UTF-8 byte-range sequences (the split
/// Russ Cox's RE2 and Rust's utf8-ranges use), and Fare does the union, concatenation and determinisation.
/// </summary>
public static class Utf8Automata
{
    public static Automaton Bytes(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = (char)bytes[i];
        return BasicAutomata.MakeString(new string(chars));
    }

    /// <summary>The UTF-8 encoding of <paramref name="text"/>, exactly.</summary>
    public static Automaton Literal(string text) => Bytes(System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>One code point of <paramref name="set"/>, as its UTF-8 bytes.</summary>
    public static Automaton Set(CodePointSet set)
    {
        var alternatives = new List<Automaton>();
        Span<byte> lo = stackalloc byte[4], hi = stackalloc byte[4];
        foreach (var (l, h) in set.Ranges)
        {
            foreach (var (a, b) in Split(l, h))
            {
                int n = Encode(a, lo);
                Encode(b, hi);
                Automaton? seq = null;
                for (int i = 0; i < n; i++)
                {
                    var step = BasicAutomata.MakeCharRange((char)lo[i], (char)hi[i]);
                    seq = seq is null ? step : BasicOperations.Concatenate(seq, step);
                }
                alternatives.Add(seq!);
            }
        }
        if (alternatives.Count == 0) return BasicAutomata.MakeEmpty();
        var union = alternatives.Count == 1 ? alternatives[0] : BasicOperations.Union(alternatives);
        union.Determinize();
        return union;
    }

    // Splits [lo, hi] into ranges whose UTF-8 encodings have one length and differ only in a suffix of continuation
    // bytes that spans its full range, so each range is one sequence of byte ranges.
    private static IEnumerable<(int, int)> Split(int lo, int hi)
    {
        var stack = new Stack<(int, int)>();
        stack.Push((lo, hi));
        var output = new List<(int, int)>();
        while (stack.Count > 0)
        {
            var (a, b) = stack.Pop();
            if (a > b) continue;
            int[] bounds = [0x7F, 0x7FF, 0xFFFF];
            bool split = false;
            foreach (int bound in bounds)
            {
                if (a <= bound && b > bound) { stack.Push((bound + 1, b)); stack.Push((a, bound)); split = true; break; }
            }
            if (split) continue;
            int n = Length(a);
            for (int i = 1; i < n && !split; i++)
            {
                int m = (1 << (6 * i)) - 1;
                if ((a & ~m) != (b & ~m))
                {
                    if ((a & m) != 0) { stack.Push(((a | m) + 1, b)); stack.Push((a, a | m)); split = true; }
                    else if ((b & m) != m) { stack.Push((b & ~m, b)); stack.Push((a, (b & ~m) - 1)); split = true; }
                }
            }
            if (!split) output.Add((a, b));
        }
        output.Sort();
        return output;
    }

    private static int Length(int cp) => cp <= 0x7F ? 1 : cp <= 0x7FF ? 2 : cp <= 0xFFFF ? 3 : 4;

    private static int Encode(int cp, Span<byte> bytes)
    {
        switch (Length(cp))
        {
            case 1: bytes[0] = (byte)cp; return 1;
            case 2: bytes[0] = (byte)(0xC0 | (cp >> 6)); bytes[1] = (byte)(0x80 | (cp & 0x3F)); return 2;
            case 3:
                bytes[0] = (byte)(0xE0 | (cp >> 12)); bytes[1] = (byte)(0x80 | ((cp >> 6) & 0x3F)); bytes[2] = (byte)(0x80 | (cp & 0x3F));
                return 3;
            default:
                bytes[0] = (byte)(0xF0 | (cp >> 18)); bytes[1] = (byte)(0x80 | ((cp >> 12) & 0x3F));
                bytes[2] = (byte)(0x80 | ((cp >> 6) & 0x3F)); bytes[3] = (byte)(0x80 | (cp & 0x3F));
                return 4;
        }
    }
}
