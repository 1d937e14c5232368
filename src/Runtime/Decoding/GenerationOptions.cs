namespace Pardec.Runtime.Decoding;

/// <summary>What to generate and how to sample; shared by the baseline generator and every strategy.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 128;
    /// <summary>0 = greedy (argmax); otherwise logits are divided by it before sampling.</summary>
    public double Temperature { get; init; }
    /// <summary>Keep only the k most likely tokens; 0 = off.</summary>
    public int TopK { get; init; }
    /// <summary>Nucleus sampling: keep the smallest set whose probability reaches p; 1 = off.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Seed of the sampling generator: the same seed gives the same tokens.</summary>
    public long Seed { get; init; }
    /// <summary>Generation stops once the text contains one of these; the text is cut before it.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>Stop at an end-of-sequence id (not included in the output).</summary>
    public bool StopOnEos { get; init; } = true;
    /// <summary>End-of-sequence ids; null = the tokenizer's, else the model config's.</summary>
    public IReadOnlyList<int>? EosTokenIds { get; init; }
    /// <summary>Prepend the BOS id when encoding a text prompt.</summary>
    public bool AddBos { get; init; } = true;
    /// <summary>
    /// What the generated text must match (a regex, JSON Schema or grammar over the model's vocabulary), or null.
    /// Verification picks under its mask, so a lossless strategy produces exactly constrained greedy decoding; the
    /// decode ends when the constraint is complete and the model ends it, or when it admits no further token
    /// (<see cref="StopReason.Unsatisfiable"/>).
    /// </summary>
    public Constraints.TokenMatcher? Constraint { get; init; }
    /// <summary>With a <see cref="Constraint"/>: proposers draw under the mask and forbidden candidates are never verified
    /// (grammar-aware drafting). Off: drafts are unconstrained and only verification is masked (for comparison).</summary>
    public bool ConstrainProposals { get; init; } = true;

    public bool IsGreedy => Temperature <= 0;

    /// <summary>The ids a decode stops at: none without <see cref="StopOnEos"/>, else <see cref="EosTokenIds"/> or, when
    /// that is null, <paramref name="defaultEos"/> (the tokenizer's or the model's).</summary>
    public IReadOnlyList<int> StopTokenIds(IReadOnlyList<int> defaultEos) => StopOnEos ? EosTokenIds ?? defaultEos : [];

    public void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "must be >= 0");
        if (Temperature < 0 || double.IsNaN(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "must be >= 0");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "must be >= 0");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "must be in (0, 1]");
    }
}

/// <summary>Why generation ended.</summary>
public enum StopReason
{
    MaxNewTokens,
    EndOfSequence,
    StopString,
    /// <summary>The KV cache (the generator's maximum length) is full.</summary>
    CacheFull,
    Cancelled,
    /// <summary>The constraint admits no further token, and its end (an end-of-sequence token) is not allowed either.</summary>
    Unsatisfiable,
}

/// <summary>Counters every decoder fills in; the basis of tokens/s and acceptance comparisons between strategies.</summary>
public sealed class DecodeStats
{
    /// <summary>Tokens produced (committed to the output).</summary>
    public int Tokens { get; set; }
    /// <summary>Forward passes of the target model, prefill included.</summary>
    public int TargetForwards { get; set; }
    /// <summary>Forward passes of a draft model (0 for plain decoding).</summary>
    public int DraftForwards { get; set; }
    /// <summary>Decode steps (loop iterations after prefill).</summary>
    public int Steps { get; set; }
    public int PromptTokens { get; set; }
    public TimeSpan PrefillTime { get; set; }
    public TimeSpan DecodeTime { get; set; }

    /// <summary>Tokens per second of decode time (prefill excluded).</summary>
    public double TokensPerSecond => DecodeTime > TimeSpan.Zero ? Tokens / DecodeTime.TotalSeconds : 0;
    /// <summary>Mean tokens committed per step: 1 for plain decoding, higher when a strategy accepts drafts.</summary>
    public double MeanAcceptedPerStep => Steps > 0 ? (double)Tokens / Steps : 0;

    public override string ToString() =>
        $"{Tokens} tokens in {Steps} steps ({MeanAcceptedPerStep:F2}/step), {TargetForwards} target + {DraftForwards} draft forwards, " +
        $"prefill {PrefillTime.TotalMilliseconds:F1} ms, decode {DecodeTime.TotalMilliseconds:F1} ms, {TokensPerSecond:F1} tok/s";
}

/// <summary>The generated ids (prompt excluded, EOS excluded), their text, the statistics and why it stopped.</summary>
public sealed record DecodeResult(IReadOnlyList<int> Tokens, string Text, DecodeStats Stats, StopReason StopReason);
