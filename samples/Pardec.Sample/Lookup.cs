using System;
using Pardec;

namespace Pardec.Sample.Strategies;

/// <summary>
/// Prompt lookup decoding declared in C# instead of a .pdec file: the same front end binds it, and the generator emits
/// <c>LookupDecoder</c> beside it. Lossless: it must reproduce <c>BaselineDecoder</c> (declared in strategies.pdec).
/// </summary>
[Strategy(Guarantee.Lossless, Paper = "Prompt lookup decoding", Stop = "eos, max_tokens")]
[Step("propose lookup(max_ngram: max_ngram, length: length, min_ngram: 1)", "verify target")]
public sealed partial class Lookup
{
    [Model(ModelKind.Causal)] public static partial string Target { get; }
    [Param(Min = 1, Max = 8)] public int MaxNgram { get; init; } = 3;
    [Param(Min = 1, Max = 64)] public int Length { get; init; } = 8;
    [Accept] private const Acceptance Rule = Acceptance.Greedy;
}
