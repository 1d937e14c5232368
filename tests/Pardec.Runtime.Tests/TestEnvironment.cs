using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests;

/// <summary>Shared test setup: one torch thread (two threads on two shared cores run 5-30x slower), fixture paths.</summary>
internal static class TestEnvironment
{
    static TestEnvironment() => torch.set_num_threads(1);

    public static void Init() { } // touching the class runs the static constructor once

    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    public static CausalLMBase LoadFixtureModel(string name, ScalarType dtype = ScalarType.Float32)
    {
        Init();
        return PretrainedModel.LoadModel(Fixture(name), torch.CPU, dtype);
    }

    /// <summary>A lower-triangular (offset-causal) mask <c>[1, 1, n, cacheLength + n]</c>.</summary>
    public static Tensor CausalMask(int cacheLength, int n, int batch = 1) =>
        torch.ones(n, cacheLength + n, ScalarType.Bool).tril(cacheLength).expand(batch, 1, n, cacheLength + n);

    /// <summary>Positions <c>[batch, n]</c> = start, start+1, ...</summary>
    public static Tensor Positions(int start, int n, int batch = 1) =>
        torch.arange(start, start + n, ScalarType.Int64).unsqueeze(0).expand(batch, n).contiguous();

    public static Tensor Tokens(params long[] ids) => torch.tensor(ids, ScalarType.Int64).unsqueeze(0);

    public static float MaxAbsDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    /// <summary>A temporary directory deleted on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public TempDir() => System.IO.Directory.CreateDirectory(Path);
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pardec-test-" + Guid.NewGuid().ToString("N"));
        public void Dispose() { try { System.IO.Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }

    public static void CopyDirectory(string from, string to)
    {
        System.IO.Directory.CreateDirectory(to);
        foreach (var file in System.IO.Directory.GetFiles(from))
            File.Copy(file, System.IO.Path.Combine(to, System.IO.Path.GetFileName(file)), overwrite: true);
    }
}
