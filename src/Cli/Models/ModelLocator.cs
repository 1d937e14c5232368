namespace Pardec.Cli.Models;

/// <summary>
/// Finds the shipped models: the build copies <c>models/</c> (Hugging Face directories and the held-out prompt sets)
/// next to pardec.dll, so the default model is <c>&lt;exe dir&gt;/models/english/target</c>. A checkout that has not
/// been built since the models landed falls back to the repository's own <c>models/</c> above the executable.
/// </summary>
public static class ModelLocator
{
    public const string DefaultTask = "english";

    /// <summary>The models root: <c>PARDEC_MODELS</c> if set, else next to the executable, else the nearest <c>models/</c> above it.</summary>
    public static string DefaultRoot()
    {
        if (Environment.GetEnvironmentVariable("PARDEC_MODELS") is { Length: > 0 } fromEnvironment) return fromEnvironment;
        string besideExe = Path.Combine(AppContext.BaseDirectory, "models");
        if (Directory.Exists(Path.Combine(besideExe, DefaultTask, "target"))) return besideExe;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "models");
            if (Directory.Exists(Path.Combine(candidate, DefaultTask, "target"))) return candidate;
        }
        return besideExe;
    }

    /// <summary>The shipped directory for a role kind within a task: target, draft, medusa or diffusion.</summary>
    public static string Shipped(string root, string task, string kind) => Path.Combine(root, task, kind);
}
