using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Pardec.Server.Http;

/// <summary>
/// A request the server refuses, answered in OpenAI's error shape:
/// <c>{"error": {"message", "type", "param", "code"}}</c>. <see cref="Param"/> names the offending field
/// (<c>messages[1].content</c>, <c>max_tokens</c>) so a client can point at it.
/// </summary>
public sealed class ApiException(int status, string message, string? param = null, string type = "invalid_request_error", string? code = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string Type { get; } = type;
    public string? Code { get; } = code;
    /// <summary>Seconds for a Retry-After header (429, 503), or null.</summary>
    public int? RetryAfter { get; init; }

    public static ApiException Invalid(string param, string message) => new(StatusCodes.Status400BadRequest, message, param);

    public async Task WriteAsync(HttpContext context)
    {
        context.Response.StatusCode = Status;
        if (RetryAfter is { } seconds) context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        WriteBody(json);
        await json.FlushAsync(context.RequestAborted);
    }

    /// <summary>The <c>{"error": …}</c> object (also sent as an SSE event when a stream fails).</summary>
    public void WriteBody(Utf8JsonWriter json)
    {
        json.WriteStartObject();
        json.WriteStartObject("error");
        json.WriteString("message", Message);
        json.WriteString("type", Type);
        if (Param is null) json.WriteNull("param"); else json.WriteString("param", Param);
        if (Code is null) json.WriteNull("code"); else json.WriteString("code", Code);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
