using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.LoadBalancing;

namespace Pardec.Server.Tests;

/// <summary>
/// Scale-out on standard machinery: two `pardec serve` processes on loopback behind a YARP reverse proxy that balances
/// round robin and probes /ready. The server keeps nothing between requests, so any replica answers any request; a
/// replica killed mid-run fails its in-flight requests without hanging anyone, and the proxy sends the next ones to the
/// other.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ScaleOutTests(ServerModels models, Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<Replica> _replicas = [];
    private WebApplication _proxy = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _replicas.Add(Replica.Start("a"));
        _replicas.Add(Replica.Start("b"));
        await Task.WhenAll(_replicas.Select(r => r.WaitReadyAsync()));
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddReverseProxy().LoadFromMemory(
            [new RouteConfig { RouteId = "all", ClusterId = "pardec", Match = new RouteMatch { Path = "{**catch-all}" } }],
            [new ClusterConfig
            {
                ClusterId = "pardec",
                LoadBalancingPolicy = LoadBalancingPolicies.RoundRobin,
                HealthCheck = new HealthCheckConfig
                {
                    // As a Kubernetes readiness probe does: a replica that is gone or draining leaves the rotation.
                    Active = new ActiveHealthCheckConfig
                    {
                        Enabled = true, Interval = TimeSpan.FromMilliseconds(300), Timeout = TimeSpan.FromSeconds(2),
                        Policy = HealthCheckConstants.ActivePolicy.ConsecutiveFailures, Path = "/ready",
                    },
                    Passive = new PassiveHealthCheckConfig
                    {
                        Enabled = true, Policy = HealthCheckConstants.PassivePolicy.TransportFailureRate, ReactivationPeriod = TimeSpan.FromMinutes(5),
                    },
                },
                Destinations = _replicas.ToDictionary(r => r.Name, r => new DestinationConfig { Address = r.Url }),
            }]);
        _proxy = builder.Build();
        _proxy.MapReverseProxy();
        await _proxy.StartAsync();
        _client = _proxy.GetTestClient();
        _client.Timeout = TimeSpan.FromSeconds(60);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _proxy.StopAsync();
        await _proxy.DisposeAsync();
        foreach (var r in _replicas) r.Dispose();
    }

    [Fact]
    public async Task Requests_through_a_proxy_spread_over_replicas_and_survive_one_being_killed()
    {
        string[] prompts = ["In the beginning God created", "And the LORD said unto Moses,", "A fool and his money", "Blessed are the meek:"];
        // All answered, each as a solo greedy decode, spread over both replicas.
        var replies = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Complete(prompts[i % 4], 16)));
        for (int i = 0; i < 8; i++)
            Assert.Equal(models.SoloGreedy(prompts[i % 4], 16).Text, replies[i].GetProperty("choices")[0].GetProperty("text").GetString());
        foreach (var r in _replicas) Assert.True(await r.RequestsServedAsync() > 0, $"replica {r.Name} served nothing");

        // Long streams on both replicas; kill one while they run.
        var streams = Enumerable.Range(0, 4).Select(i => Stream("And it came to pass, " + prompts[i], 200)).ToList();
        await Task.WhenAll(streams.Select(s => s.Started));
        _replicas[0].Kill();
        var outcomes = await Task.WhenAll(streams.Select(s => s.Ended)).WaitAsync(TimeSpan.FromSeconds(30)); // nobody hangs
        Assert.All(outcomes, o => Assert.True(o is "done" or "failed", o));
        output.WriteLine("streams: " + string.Join(", ", outcomes)); // typically "failed, done, done, failed": round robin put two on each
        Assert.Contains("done", outcomes); // the survivor's streams are untouched

        // New requests go to the survivor once the proxy has seen the replica go.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        int ok = 0;
        while (ok < 3 && DateTime.UtcNow < deadline)
        {
            using var response = await _client.PostAsJsonAsync("/v1/completions", new { model = "ar", prompt = "Love is", max_tokens = 4, temperature = 0 });
            ok = response.IsSuccessStatusCode ? ok + 1 : 0;
        }
        Assert.Equal(3, ok);
        var after = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Complete(prompts[i % 4], 8)));
        Assert.Equal(6, after.Length);
    }

    private async Task<JsonElement> Complete(string prompt, int maxTokens)
    {
        using var response = await _client.PostAsJsonAsync("/v1/completions", new { model = "ar", prompt, max_tokens = maxTokens, temperature = 0 });
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    // A streamed completion: Started completes at its first event, Ended with "done" ([DONE] seen) or "failed".
    private (Task Started, Task<string> Ended) Stream(string prompt, int maxTokens)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task<string> Run()
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
                {
                    Content = JsonContent.Create(new { model = "ar", prompt, max_tokens = maxTokens, temperature = 0, stream = true }),
                };
                using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                if (!response.IsSuccessStatusCode) { started.TrySetResult(); return "failed"; }
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                while (await reader.ReadLineAsync() is { } line)
                {
                    if (line.StartsWith("data: ")) started.TrySetResult();
                    if (line == "data: [DONE]") return "done";
                }
                return "failed"; // the stream ended without [DONE]: its replica went away
            }
            catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
            {
                return "failed";
            }
            finally { started.TrySetResult(); }
        }
        return (started.Task, Run());
    }

    /// <summary>A `pardec serve` process on a free loopback port, serving the shipped English target as "ar".</summary>
    private sealed class Replica : IDisposable
    {
        private readonly Process _process;
        private readonly List<string> _log = [];

        private Replica(string name, int port, Process process)
        {
            Name = name;
            Url = $"http://127.0.0.1:{port}/";
            _process = process;
        }

        public string Name { get; }
        public string Url { get; }

        public static Replica Start(string name)
        {
            int port = FreePort();
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string a in new[] { PardecDll(), "serve", "--port", port.ToString(), "--deployment", "name=ar,strategy=Greedy,batch=4", "--threads", "1", "--drain-timeout", "2" })
                start.ArgumentList.Add(a);
            var process = Process.Start(start)!;
            var replica = new Replica(name, port, process);
            process.OutputDataReceived += (_, e) => { if (e.Data is { } l) lock (replica._log) replica._log.Add(l); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is { } l) lock (replica._log) replica._log.Add(l); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return replica;
        }

        public async Task WaitReadyAsync()
        {
            using var http = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(2) };
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
            while (DateTime.UtcNow < deadline)
            {
                if (_process.HasExited) break;
                try { if ((await http.GetAsync("/ready")).StatusCode == HttpStatusCode.OK) return; }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) { }
                await Task.Delay(200);
            }
            lock (_log) throw new InvalidOperationException($"replica {Name} did not become ready:\n" + string.Join('\n', _log));
        }

        /// <summary>Finished requests, read from the replica's own /metrics.</summary>
        public async Task<double> RequestsServedAsync()
        {
            using var http = new HttpClient { BaseAddress = new Uri(Url) };
            string scrape = await http.GetStringAsync("/metrics");
            return scrape.Split('\n').Where(l => l.StartsWith("pardec_requests_total{", StringComparison.Ordinal))
                         .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        }

        public void Kill()
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        public void Dispose()
        {
            if (!_process.HasExited) Kill();
            _process.Dispose();
        }

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        // The pardec built beside this test assembly's configuration (the project reference builds it).
        private static string PardecDll()
        {
            var parts = AppContext.BaseDirectory.TrimEnd('/').Split('/');
            string configuration = parts[Array.LastIndexOf(parts, "bin") + 1];
            string dll = Path.Combine(ServerModels.RepoRoot(), "src", "Cli", "bin", configuration, "net10.0", "linux-x64", "pardec.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("pardec is not built", dll);
        }
    }
}
