using System.Text.Json;
using Pardec.Runtime.Decoding;
using Pardec.Server.Generation;

namespace Pardec.Server.Http;

/// <summary>
/// Writes OpenAI's response objects — <c>chat.completion</c> / <c>text_completion</c> and their streamed chunks — for
/// one request. Usage carries the standard counts, the drafted tokens as <c>completion_tokens_details</c>'
/// <c>accepted_prediction_tokens</c> / <c>rejected_prediction_tokens</c> (what OpenAI clients already read), and a
/// <c>pardec</c> object with the decode steps, drafted and accepted tokens, queue time and time to first token.
/// </summary>
internal sealed class ResponseWriter(bool chat, string id, string model, long created)
{
    public void Whole(Utf8JsonWriter json, string text, Finished finished)
    {
        json.WriteStartObject();
        Header(json, chat ? "chat.completion" : "text_completion");
        json.WriteStartArray("choices");
        json.WriteStartObject();
        json.WriteNumber("index", 0);
        if (chat)
        {
            json.WriteStartObject("message");
            json.WriteString("role", "assistant");
            json.WriteString("content", text);
            json.WriteNull("refusal");
            json.WriteEndObject();
        }
        else json.WriteString("text", text);
        json.WriteNull("logprobs");
        json.WriteString("finish_reason", FinishReason(finished.Reason));
        StopReasonField(json, finished.Reason);
        json.WriteEndObject();
        json.WriteEndArray();
        Usage(json, finished.Usage);
        json.WriteEndObject();
    }

    /// <summary>A chunk with a delta (<paramref name="text"/>; the first carries the role) or, with <paramref name="finish"/>, the last one.</summary>
    public void Chunk(Utf8JsonWriter json, bool role, string? text, Finished? finish)
    {
        json.WriteStartObject();
        Header(json, chat ? "chat.completion.chunk" : "text_completion");
        json.WriteStartArray("choices");
        json.WriteStartObject();
        json.WriteNumber("index", 0);
        if (chat)
        {
            json.WriteStartObject("delta");
            if (role) json.WriteString("role", "assistant");
            if (text is not null) json.WriteString("content", text);
            json.WriteEndObject();
        }
        else json.WriteString("text", text ?? "");
        json.WriteNull("logprobs");
        if (finish is null) json.WriteNull("finish_reason");
        else
        {
            json.WriteString("finish_reason", FinishReason(finish.Reason));
            StopReasonField(json, finish.Reason);
        }
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteNull("usage");
        json.WriteEndObject();
    }

    /// <summary><c>stream_options.include_usage</c>: a last chunk with no choices and the usage.</summary>
    public void UsageChunk(Utf8JsonWriter json, Finished finished)
    {
        json.WriteStartObject();
        Header(json, chat ? "chat.completion.chunk" : "text_completion");
        json.WriteStartArray("choices");
        json.WriteEndArray();
        Usage(json, finished.Usage);
        json.WriteEndObject();
    }

    private void Header(Utf8JsonWriter json, string kind)
    {
        json.WriteString("id", id);
        json.WriteString("object", kind);
        json.WriteNumber("created", created);
        json.WriteString("model", model);
        json.WriteString("system_fingerprint", "pardec");
    }

    private static void Usage(Utf8JsonWriter json, GenerationUsage usage)
    {
        json.WriteStartObject("usage");
        json.WriteNumber("prompt_tokens", usage.PromptTokens);
        json.WriteNumber("completion_tokens", usage.CompletionTokens);
        json.WriteNumber("total_tokens", usage.PromptTokens + usage.CompletionTokens);
        json.WriteStartObject("completion_tokens_details");
        json.WriteNumber("reasoning_tokens", 0);
        json.WriteNumber("accepted_prediction_tokens", usage.AcceptedTokens);
        json.WriteNumber("rejected_prediction_tokens", usage.DraftedTokens - usage.AcceptedTokens);
        json.WriteEndObject();
        json.WriteStartObject("pardec");
        json.WriteNumber("steps", usage.Steps);
        json.WriteNumber("drafted_tokens", usage.DraftedTokens);
        json.WriteNumber("accepted_tokens", usage.AcceptedTokens);
        json.WriteNumber("queue_ms", Math.Round(usage.QueueTime.TotalMilliseconds, 3));
        if (usage.TimeToFirstToken is { } ttft) json.WriteNumber("time_to_first_token_ms", Math.Round(ttft.TotalMilliseconds, 3));
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>OpenAI's finish reasons (its clients refuse any other value): an unsatisfiable constraint is <c>stop</c>,
    /// with <see cref="StopReasonField"/> saying why.</summary>
    public static string FinishReason(StopReason reason) => reason switch
    {
        StopReason.EndOfSequence or StopReason.StopString or StopReason.Unsatisfiable => "stop",
        _ => "length",
    };

    /// <summary>
    /// <c>stop_reason</c> (the extension field vLLM also writes beside <c>finish_reason</c>):
    /// <c>"constraint_unsatisfiable"</c> when the reply's <c>response_format</c> admits no further token — nothing the
    /// vocabulary can spell continues it, or a masked canvas is too short to finish it.
    /// </summary>
    private static void StopReasonField(Utf8JsonWriter json, StopReason reason)
    {
        if (reason == StopReason.Unsatisfiable) json.WriteString("stop_reason", "constraint_unsatisfiable");
    }
}
