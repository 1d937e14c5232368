using Microsoft.Extensions.Logging;

namespace Pardec.Server.Generation;

/// <summary>The logging scope that puts a request's id on every line logged about it, on the HTTP thread and on the
/// engine's (printed <c>RequestId:…</c> by the console formatter, a <c>RequestId</c> field for structured sinks).</summary>
public static class RequestScope
{
    public static IDisposable? Begin(ILogger logger, string requestId) => logger.BeginScope("RequestId:{RequestId}", requestId);
}
