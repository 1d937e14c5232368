using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using OpenAI;
using Pardec.Dsl;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Tokenization;
using Pardec.Server;
using Pardec.Strategies;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

// One torch thread, one test at a time: timings stay sane on two shared cores and the batches are the ones a test builds.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Pardec.Server.Tests;

/// <summary>The shipped English target and draft (models/english), loaded once for the whole assembly.</summary>
public sealed class ServerModels : IDisposable
{
    public ServerModels()
    {
        torch.set_num_threads(1);
        string root = RepoRoot();
        TargetDirectory = Path.Combine(root, "models", "english", "target");
        Target = PretrainedModel.Load(TargetDirectory, CPU, requireTokenizer: true);
        Draft = PretrainedModel.Load(Path.Combine(root, "models", "english", "draft"), CPU);
        Target.Model.eval();
        Draft.Model.eval();
        Tokenizer = Target.Tokenizer!;
        Models = new ModelSet().Add("target", Target.Model).Add("draft", Draft.Model);
    }

    public string TargetDirectory { get; }
    public PretrainedModel Target { get; }
    public PretrainedModel Draft { get; }
    public TextTokenizer Tokenizer { get; }
    public ModelSet Models { get; }
    public int Context => Target.Config.MaxPositionEmbeddings;

    public static GeneratedStrategy Strategy(string name) => GeneratedStrategies.All.Single(s => s.Name == name);

    public static DecodePlan Plan(string name) => PdecCompiler.Compile(Strategy(name).Plan, name + ".pdec").Plans[0];

    /// <summary>A deployment of a library strategy on the shipped models, as <c>pardec serve</c> makes one.</summary>
    public DeploymentSpec Spec(string deployment, string strategy) =>
        new(deployment, Plan(strategy), Models, Target.Model, Tokenizer, maxLength => Strategy(strategy).Create(Models, null, maxLength), TargetDirectory);

    /// <summary>The solo greedy decode of <paramref name="prompt"/> by the plain Greedy decoder: the reference.</summary>
    public DecodeResult SoloGreedy(string prompt, int maxTokens, IReadOnlyList<string>? stops = null)
    {
        using var decoder = Strategy("Greedy").Create(Models, null, Context);
        return new TextDecoder(decoder, Tokenizer).Generate(prompt, new GenerationOptions { MaxNewTokens = maxTokens, StopStrings = stops ?? [] });
    }

    public void Dispose()
    {
        Draft.Dispose();
        Target.Dispose();
    }

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("Dsl.sln not found above " + AppContext.BaseDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerModels>
{
    public const string Name = "server";
}

/// <summary>A server on an in-process test host, and the official OpenAI client pointed at it.</summary>
public sealed class TestServerHost : IAsyncDisposable
{
    private TestServerHost(WebApplication app)
    {
        App = app;
        Http = app.GetTestClient();
        Http.Timeout = TimeSpan.FromSeconds(60);
        OpenAI = new OpenAIClient(new ApiKeyCredential("not-checked"), new OpenAIClientOptions
        {
            Endpoint = new Uri(Http.BaseAddress!, "/v1"),
            Transport = new HttpClientPipelineTransport(Http),
            NetworkTimeout = TimeSpan.FromSeconds(60),
        });
    }

    public WebApplication App { get; }
    public HttpClient Http { get; }
    public OpenAIClient OpenAI { get; }
    public DeploymentRegistry Deployments => (DeploymentRegistry)App.Services.GetService(typeof(DeploymentRegistry))!;

    public static async Task<TestServerHost> StartAsync(IReadOnlyList<DeploymentSpec> specs, ServerOptions? options = null,
                                                        Action<WebApplicationBuilder>? configure = null)
    {
        var app = PardecServer.Build(specs, options, configure: builder =>
        {
            builder.WebHost.UseTestServer();
            configure?.Invoke(builder);
        });
        await app.StartAsync();
        _ = app.Services.GetService(typeof(DeploymentRegistry)); // create the deployments now, not on the first request
        return new TestServerHost(app);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
