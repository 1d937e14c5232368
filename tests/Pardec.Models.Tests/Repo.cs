using TorchSharp;

[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

namespace Pardec.Models.Tests;

/// <summary>Paths inside the repository, found by walking up to Dsl.sln (tests run from bin/...).</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    public static string Tokenizer => Path("models", "tokenizer", "tokenizer.model");

    /// <summary>One torch thread: the machine is shared, and the tests must be fast and deterministic.</summary>
    public static void OneThread() => torch.set_num_threads(1);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no Dsl.sln above {AppContext.BaseDirectory}");
    }
}
