using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;
using Xunit;

namespace Pardec.Server.Tests;

/// <summary>
/// deploy/ cannot run here (no docker, no cluster), so its manifests are checked as data: they parse, the probes hit
/// the server's real endpoints on the container's port, the Service selects the Deployment's pods, the autoscaler
/// targets the Deployment on a metric the server really exports, and shutdown gets time to drain.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class DeployManifestTests(ServerModels models)
{
    private static readonly string Deploy = Path.Combine(ServerModels.RepoRoot(), "deploy");

    private static List<YamlMappingNode> Documents(string file)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(Deploy, file))) stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    private static YamlNode At(YamlNode node, params object[] path)
    {
        foreach (var step in path)
            node = step switch
            {
                string key => ((YamlMappingNode)node).Children[new YamlScalarNode(key)],
                int index => ((YamlSequenceNode)node).Children[index],
                _ => throw new ArgumentException(step.ToString()),
            };
        return node;
    }

    private static string Text(YamlNode node, params object[] path) => ((YamlScalarNode)At(node, path)).Value!;

    [Fact]
    public async Task The_kubernetes_manifest_wires_probes_service_and_autoscaler_to_what_the_server_serves()
    {
        var docs = Documents("kubernetes/pardec.yaml");
        var byKind = docs.ToDictionary(d => Text(d, "kind"));
        Assert.Equal(["Deployment", "HorizontalPodAutoscaler", "Service"], byKind.Keys.Order());

        var deployment = byKind["Deployment"];
        var container = At(deployment, "spec", "template", "spec", "containers", 0);
        Assert.Equal("8000", Text(container, "ports", 0, "containerPort"));
        Assert.Equal("/ready", Text(container, "readinessProbe", "httpGet", "path"));
        Assert.Equal("/health", Text(container, "livenessProbe", "httpGet", "path"));
        string labels = Text(deployment, "spec", "template", "metadata", "labels", "app.kubernetes.io/name");
        Assert.Equal(labels, Text(deployment, "spec", "selector", "matchLabels", "app.kubernetes.io/name"));
        Assert.Equal(labels, Text(byKind["Service"], "spec", "selector", "app.kubernetes.io/name"));
        Assert.Equal(Text(container, "ports", 0, "name"), Text(byKind["Service"], "spec", "ports", 0, "targetPort"));

        // Shutdown: the grace period covers the drain timeout the container is given, plus the preStop pause.
        var args = ((YamlSequenceNode)At(container, "args")).Children.Select(a => ((YamlScalarNode)a).Value!).ToList();
        int drain = int.Parse(args[args.IndexOf("--drain-timeout") + 1]);
        Assert.True(int.Parse(Text(deployment, "spec", "template", "spec", "terminationGracePeriodSeconds")) > drain + 5);
        foreach (string d in args.Where((_, i) => i > 0 && args[i - 1] == "--deployment"))
        {
            var keys = d.Split(',').Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
            Assert.Contains(keys["strategy"], Strategies.GeneratedStrategies.All.Select(s => s.Name));
        }

        var hpa = byKind["HorizontalPodAutoscaler"];
        Assert.Equal("Deployment", Text(hpa, "spec", "scaleTargetRef", "kind"));
        Assert.Equal(Text(deployment, "metadata", "name"), Text(hpa, "spec", "scaleTargetRef", "name"));
        string metric = Text(hpa, "spec", "metrics", 0, "pods", "metric", "name");
        Assert.Equal(metric, Text(Documents("kubernetes/prometheus-adapter-rules.yaml")[0], "rules", 0, "name", "as"));

        // The metric the autoscaler reads is one the server exports.
        await using var server = await TestServerHost.StartAsync([models.Spec("ar", "Greedy")]);
        string scrape = await server.Http.GetStringAsync("/metrics");
        Assert.Matches(new Regex("^" + Regex.Escape(metric) + "\\{", RegexOptions.Multiline), scrape);
    }

    [Fact]
    public void The_Dockerfile_serves_on_the_port_the_manifest_probes()
    {
        string dockerfile = File.ReadAllText(Path.Combine(Deploy, "Dockerfile"));
        Assert.Contains("EXPOSE 8000", dockerfile);
        var entry = Regex.Match(dockerfile, "^ENTRYPOINT (\\[.*\\])$", RegexOptions.Multiline);
        Assert.True(entry.Success, "an exec-form ENTRYPOINT");
        var argv = System.Text.Json.JsonSerializer.Deserialize<string[]>(entry.Groups[1].Value)!;
        Assert.Equal(["dotnet", "pardec.dll", "serve"], argv[..3]);
        Assert.Equal("8000", argv[Array.IndexOf(argv, "--port") + 1]);
        Assert.Equal("0.0.0.0", argv[Array.IndexOf(argv, "--host") + 1]);
        Assert.Contains("dotnet publish src/Cli/Pardec.Cli.csproj", dockerfile);
    }
}
