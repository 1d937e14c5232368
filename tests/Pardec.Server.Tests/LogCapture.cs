using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Pardec.Server.Tests;

/// <summary>Records every log line with the scopes it was written in, as the console formatter sees them.</summary>
public sealed class LogCapture : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public ConcurrentQueue<(string Category, string Message, string Scopes)> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose() { }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var scopes = new System.Text.StringBuilder();
            owner._scopes.ForEachScope((scope, text) => text.Append(scope).Append(" => "), scopes);
            owner.Lines.Enqueue((category, formatter(state, exception), scopes.ToString()));
        }
    }
}
