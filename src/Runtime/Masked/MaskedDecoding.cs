using Pardec.Runtime.Decoding;
using Pardec.Runtime.Primitives;

namespace Pardec.Runtime.Masked;

/// <summary>What every masked-canvas loop shares at its edges: options in, observer views and the result out.</summary>
public static class MaskedDecoding
{
    /// <summary>The generation length for a prompt: the caller's token budget, within the session's canvas. Starts the
    /// session's <see cref="MaskedSession.StopRule"/> with the request's options.</summary>
    public static int GenerationLength(MaskedSession session, int promptLength, GenerationOptions options)
    {
        // The canvas must fit the decoder's buffers and the model's context (its position tables end there).
        int room = session.Room(promptLength);
        if (room <= 0) throw new ArgumentException($"The prompt has {promptLength} tokens; the canvas holds {room + promptLength} (model context {session.Model.Config.MaxPositionEmbeddings}, decoder {session.MaxLength}).");
        session.StopRule.Start(options, session.Model.Config.EosTokenIds);
        return Math.Min(options.MaxNewTokens, room);
    }

    public static SamplingSettings Sampling(GenerationOptions options) => SamplingSettings.From(options);

    /// <summary>
    /// The step as an observer sees it: the newly completed run of the generated text (a masked canvas commits out of
    /// order; text streams in order once the positions before it are filled).
    /// </summary>
    public static DecodeStepView StepView(MaskedSession session, ref int reported)
    {
        var generated = session.Generated;
        int from = Math.Min(reported, generated.Length);
        reported = generated.Length;
        return new DecodeStepView(session.Steps, generated.Slice(from), generated, default, default, default, default);
    }

    /// <summary>The generated tokens (the end-of-sequence token excluded) and the counters.</summary>
    public static DecodeResult Result(MaskedSession session)
    {
        var generated = session.Generated; // refreshes session.Text from the canvas
        // The text ends at its end-of-sequence token whatever else stopped the loop.
        StopReason? ended = generated.Length > 0 && session.IsEos(generated[^1]) ? StopReason.EndOfSequence : null;
        return session.Core.Result(session.Text, ended: ended);
    }

    public static MaskedCacheMode CacheMode(Dsl.Plan.CacheMode mode) => mode switch
    {
        Dsl.Plan.CacheMode.Prefix => MaskedCacheMode.Prefix,
        Dsl.Plan.CacheMode.Dual => MaskedCacheMode.Dual,
        _ => MaskedCacheMode.None,
    };
}
