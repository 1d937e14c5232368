namespace Pardec.Generators.Tests;

/// <summary>C# inputs shared by several tests.</summary>
internal static class Samples
{
    /// <summary>The attributed form end to end: a role, params, step text, an [Accept] rule and a C# hook.</summary>
    public const string RepeatLookup = """
        using System;
        using Pardec;

        namespace Demo;

        [Strategy(Guarantee.Lossless, Paper = "Prompt lookup decoding", Stop = "eos, max_tokens")]
        [Step("propose lookup(max_ngram: max_ngram, length: length)", "verify target")]
        public sealed partial class RepeatLookup
        {
            [Model(ModelKind.Causal)]
            public static partial string Target { get; }

            [Param(Min = 1, Max = 8)]
            public int MaxNgram { get; init; } = 3;

            [Param(Min = 1, Max = 64, Runtime = true)]
            public int Length { get; init; } = 10;

            [Accept]
            private const Acceptance Rule = Acceptance.Greedy;

            /// <summary>Guesses that the last token repeats: cheap, and right inside runs of padding or indentation.</summary>
            [Propose(MaxLength = 4)]
            private static int RepeatLast(ReadOnlySpan<int> context, Span<int> draft)
            {
                if (context.IsEmpty) return 0;
                draft.Fill(context[^1]);
                return draft.Length;
            }
        }
        """;

    public const string Unrelated = """
        namespace Demo;

        public static class Unrelated
        {
            public static int Answer() => 42;
        }
        """;
}
