namespace Pardec.Runtime.Decoding;

/// <summary>How a strategy's declared stop conditions narrow the caller's options (shared by every engine).</summary>
public static class StrategyOptions
{
    /// <param name="maxTokens">A declared <c>max_tokens(n)</c> cap, if any.</param>
    /// <param name="stopOnEos">False when the strategy declares stops and <c>eos</c> is not among them.</param>
    public static GenerationOptions Apply(GenerationOptions options, int? maxTokens, bool stopOnEos)
    {
        if (maxTokens is int cap && cap < options.MaxNewTokens) options = options with { MaxNewTokens = cap };
        if (!stopOnEos && options.StopOnEos) options = options with { StopOnEos = false };
        return options;
    }
}
