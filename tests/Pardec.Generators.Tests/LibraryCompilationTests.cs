using Microsoft.CodeAnalysis;

namespace Pardec.Generators.Tests;

public sealed class LibraryCompilationTests
{
    [Fact]
    public void Every_library_strategy_generates_code_that_compiles_without_errors_or_warnings()
    {
        var (output, result, _) = GeneratorHarness.Run(GeneratorHarness.LibraryFiles(), Samples.RepeatLookup);

        Assert.Empty(GeneratorHarness.Problems(output, result).Select(d => d.ToString()));
        // One decoder per library strategy, the registry, the attributes (and Roslyn's [Embedded]), the attributed class's two files.
        var strategies = GeneratorHarness.LibraryFiles()
            .SelectMany(f => System.Text.RegularExpressions.Regex.Matches(f.GetText()!.ToString(), @"^strategy (\w+)", System.Text.RegularExpressions.RegexOptions.Multiline))
            .Select(m => m.Groups[1].Value + "Decoder.g.cs").ToList();
        var hints = result.Results.Single().GeneratedSources.Select(s => s.HintName).ToList();
        Assert.True(strategies.Count > 20, "found only " + strategies.Count + " library strategies");
        Assert.Empty(strategies.Except(hints));
        Assert.Contains("Demo.RepeatLookupDecoder.g.cs", hints);
        Assert.Contains("GeneratedStrategies.g.cs", hints);
        Assert.Equal(strategies.Count + 1 + 2 + 2, hints.Count);
    }

    [Fact]
    public void The_attributed_class_compiles_into_a_decoder_whose_loop_calls_the_hook()
    {
        var (output, result, _) = GeneratorHarness.Run(Array.Empty<AdditionalText>(), Samples.RepeatLookup);

        Assert.Empty(GeneratorHarness.Problems(output, result).Select(d => d.ToString()));
        var decoder = output.GetTypeByMetadataName("Demo.RepeatLookupDecoder");
        Assert.NotNull(decoder);
        Assert.Contains(decoder!.AllInterfaces, i => i.ToDisplayString() == "Pardec.Runtime.Decoding.IDecoder");
        string source = GeneratorHarness.Generated(result, "Demo.RepeatLookupDecoder.g.cs");
        Assert.Contains("_repeatLastHook.Propose(s.Context, s.Tree, 1);", source);
        Assert.Contains("_repeatLastHook = new global::Demo.RepeatLookup.RepeatLastHook();", source);
        // The runtime length is sized at its range's top (64), plus the hook's 4 → worst-case width 68, 69 tree nodes with the root.
        Assert.Contains("new global::Pardec.Runtime.Primitives.CausalSession(target, maxLength, 69)", source);
        Assert.Contains("verify target tree(max_width: 68)", source);
        // The runtime parameter is on the options record; the build-time one was folded.
        Assert.NotNull(output.GetTypeByMetadataName("Demo.RepeatLookupOptions")!.GetMembers("Length").SingleOrDefault());
        Assert.Empty(output.GetTypeByMetadataName("Demo.RepeatLookupOptions")!.GetMembers("MaxNgram"));
    }

    [Fact]
    public void A_hook_method_named_Propose_compiles_without_errors_in_generated_code()
    {
        // Inside the generated IProposer a bare 'Propose(...)' named the proposer's own 3-argument method: CS7036.
        var (output, result, _) = GeneratorHarness.Run(Array.Empty<AdditionalText>(), """
            using System;
            using Pardec;

            namespace Demo;

            [Strategy(Guarantee.Lossless)]
            [Step("verify target", "accept greedy")]
            public sealed partial class Named
            {
                [Model(ModelKind.Causal)]
                public static partial string Target { get; }

                [Propose(MaxLength = 2)]
                private static int Propose(ReadOnlySpan<int> context, Span<int> draft) => 0;
            }
            """);

        Assert.Empty(GeneratorHarness.Problems(output, result).Select(d => d.ToString()));
        Assert.Contains("int count = global::Demo.Named.Propose(context.Tokens, draft);", GeneratorHarness.Generated(result, "Demo.Named.Strategy.g.cs"));
    }

    [Fact]
    public void An_instance_hook_type_is_reset_called_and_observed_through_one_instance_per_decoder()
    {
        var (output, result, _) = GeneratorHarness.Run(Array.Empty<AdditionalText>(), """
            using System;
            using Pardec;

            namespace Demo;

            [Strategy(Guarantee.Lossless)]
            [Step("propose lookup(max_ngram: 2, length: 4)", "verify target", "accept greedy")]
            public sealed partial class Stateful
            {
                [Model(ModelKind.Causal)]
                public static partial string Target { get; }

                [Propose(MaxLength = 3)]
                private sealed class LastAccepted
                {
                    private int _accepted;
                    public void Reset(ReadOnlySpan<int> prompt) => _accepted = 0;
                    public int Propose(ReadOnlySpan<int> context, Span<int> draft) { draft.Fill(context[^1]); return _accepted > 0 ? draft.Length : 1; }
                    public void Observe(ReadOnlySpan<int> context, int accepted) => _accepted = accepted;
                }
            }
            """);

        Assert.Empty(GeneratorHarness.Problems(output, result).Select(d => d.ToString()));
        string part = GeneratorHarness.Generated(result, "Demo.Stateful.Strategy.g.cs");
        Assert.Contains("private readonly global::Demo.Stateful.LastAccepted _hook = new global::Demo.Stateful.LastAccepted();", part);
        Assert.Contains("=> _hook.Reset(context.Tokens);", part);
        Assert.Contains("=> _hook.Observe(context.Tokens, outcome.AcceptedCount);", part);
        string decoder = GeneratorHarness.Generated(result, "Demo.StatefulDecoder.g.cs");
        Assert.Contains("_lastAcceptedHook.Reset(s.Context);", decoder);
        Assert.Contains("_lastAcceptedHook.Observe(s.Context, s.Tree, s.Outcome);", decoder);
    }
}
