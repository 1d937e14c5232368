using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using Pardec.Server.Http;
using Pardec.Server.Metrics;

namespace Pardec.Server;

/// <summary>Settings of a server: its deployments' defaults and per-name overrides, and how long shutdown may drain.</summary>
public sealed record ServerOptions
{
    public DeploymentOptions Defaults { get; init; } = new();
    /// <summary>Per deployment name, replacing <see cref="Defaults"/>.</summary>
    public IReadOnlyDictionary<string, DeploymentOptions> Deployments { get; init; } = new Dictionary<string, DeploymentOptions>();
    /// <summary>How long a shutdown waits for running and queued requests before cancelling them.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Builds the <c>pardec serve</c> application: the deployments (created when the host starts, so a test host and the
/// CLI share one path), the OpenAI endpoints, Prometheus <c>/metrics</c> through OpenTelemetry, request ids in the
/// logs, and a shutdown that drains. The server keeps nothing between requests, so replicas scale out behind any
/// HTTP load balancer (see deploy/).
/// </summary>
public static class PardecServer
{
    /// <param name="configure">Last changes to the builder (a test swaps in its test server, the CLI sets URLs).</param>
    public static WebApplication Build(IReadOnlyList<DeploymentSpec> specs, ServerOptions? options = null, string[]? args = null,
                                       Action<WebApplicationBuilder>? configure = null)
    {
        options ??= new ServerOptions();
        var builder = WebApplication.CreateSlimBuilder(args ?? []);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.IncludeScopes = true; // the RequestId scope: every line about a request names it
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        // Per-request lines come from Pardec's own categories (each names its request id); ASP.NET's routing and result
        // chatter would double them.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainTimeout + TimeSpan.FromSeconds(5));
        builder.Services.AddSingleton(sp => new ServerMetrics(sp.GetRequiredService<IMeterFactory>()));
        builder.Services.AddSingleton(sp =>
        {
            var metrics = sp.GetRequiredService<ServerMetrics>();
            var logging = sp.GetRequiredService<ILoggerFactory>();
            var deployments = new List<Deployment>();
            try
            {
                foreach (var spec in specs)
                    deployments.Add(Deployment.Create(spec, options.Deployments.GetValueOrDefault(spec.Name) ?? options.Defaults, metrics, logging));
            }
            catch
            {
                foreach (var d in deployments) d.Dispose();
                throw;
            }
            return new DeploymentRegistry(deployments);
        });
        builder.Services.AddHostedService(sp => new DrainOnShutdown(sp.GetRequiredService<DeploymentRegistry>(), options.DrainTimeout,
                                                                    sp.GetRequiredService<ILoggerFactory>().CreateLogger("Pardec.Server")));
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(ServerMetrics.MeterName)
            .AddPrometheusExporter());
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseRequestIdsAndErrors();
        app.MapOpenAi();
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }

    /// <summary>Creates the deployments as the host starts, and on shutdown stops admitting (so /ready turns 503 and
    /// new requests get 503) and waits for the admitted requests, up to the drain timeout, before the host stops.</summary>
    private sealed class DrainOnShutdown(DeploymentRegistry registry, TimeSpan timeout, ILogger logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask; // resolving the registry made the deployments

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            int running = registry.All.Sum(d => d.Engine.Running + d.Engine.Waiting);
            logger.LogInformation("Shutting down: draining {Requests} requests (up to {Timeout} s)", running, timeout.TotalSeconds);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(timeout);
            await registry.DrainAsync(limit.Token).ConfigureAwait(false);
            logger.LogInformation("Drained");
        }
    }
}
