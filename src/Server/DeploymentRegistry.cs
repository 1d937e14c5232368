using Pardec.Server.Http;

namespace Pardec.Server;

/// <summary>The served deployments by name (the request's <c>model</c>); disposing it stops their engines.</summary>
public sealed class DeploymentRegistry : IDisposable
{
    private readonly Dictionary<string, Deployment> _byName;

    public DeploymentRegistry(IEnumerable<Deployment> deployments)
    {
        All = deployments.ToArray();
        if (All.Count == 0) throw new ArgumentException("Serve at least one deployment.", nameof(deployments));
        _byName = new Dictionary<string, Deployment>(StringComparer.Ordinal);
        foreach (var d in All)
            if (!_byName.TryAdd(d.Name, d)) throw new ArgumentException($"Two deployments are named '{d.Name}'.", nameof(deployments));
    }

    public IReadOnlyList<Deployment> All { get; }

    /// <summary>Every engine is up and none is draining.</summary>
    public bool IsReady => All.All(d => d.Engine.IsReady);

    /// <summary>The deployment a request names; 404 listing the served names otherwise.</summary>
    public Deployment Find(string model) =>
        _byName.TryGetValue(model, out var d) ? d
        : throw new ApiException(404, $"The model '{model}' does not exist; this server serves {string.Join(", ", All.Select(x => $"'{x.Name}'"))}.",
                                 "model", code: "model_not_found");

    /// <summary>Stops admitting everywhere and waits for the running and queued requests to finish.</summary>
    public Task DrainAsync(CancellationToken cancellationToken) => Task.WhenAll(All.Select(d => d.Engine.DrainAsync(cancellationToken)));

    public void Dispose()
    {
        foreach (var d in All) d.Dispose();
    }
}
