using System.Diagnostics;

namespace Pardec.Cli.Tests;

/// <summary>The outcome of one pardec invocation.</summary>
public sealed record CliResult(int ExitCode, string Out, string Err)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Err}";
}

/// <summary>Drives pardec in-process through <see cref="Cli.Run"/>, or as a real process.</summary>
public static class CliDriver
{
    public static CliResult Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = Cli.Run(args, output, error);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>Runs a library strategy on the tiny model tree with greedy decoding and a small budget.</summary>
    public static CliResult RunTiny(params string[] args) =>
        Run([.. args, "--models", TinyModelTree.Root]);

    public static string PardecDll => Path.Combine(AppContext.BaseDirectory, "pardec.dll");

    public static CliResult Process(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(PardecDll);
        foreach (string a in args) start.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000)) { process.Kill(entireProcessTree: true); throw new TimeoutException("pardec did not finish in 120 s"); }
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}

/// <summary>A fact that skips, saying why, when something it needs is not on this machine.</summary>
public sealed class FactWhenAttribute : FactAttribute
{
    public FactWhenAttribute(string requirement)
    {
        string? reason = requirement switch
        {
            "chromium" => Chromium.Path is null ? "chromium is not installed (.ci/run installs it: apt-get install -y chromium)" : null,
            "default-model" => File.Exists(Path.Combine(AppContext.BaseDirectory, "models", "english", "target", "config.json"))
                ? null : "the shipped default model (models/english/target) has not landed in this checkout",
            _ => $"unknown requirement '{requirement}'",
        };
        if (reason is not null) Skip = reason;
    }
}

public static class Chromium
{
    public static string? Path { get; } = new[] { "chromium", "chromium-browser", "google-chrome" }
        .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => System.IO.Path.Combine(dir, name)))
        .FirstOrDefault(File.Exists);

    /// <summary>The DOM after the page's scripts ran, from headless Chromium with no network and a throw-away profile.</summary>
    public static string DumpDom(string htmlPath)
    {
        string profile = TinyModelTree.NewTempDirectory();
        var start = new ProcessStartInfo(Path!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                                     "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile, "--dump-dom", new Uri(htmlPath).AbsoluteUri })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(90_000)) { process.Kill(entireProcessTree: true); throw new TimeoutException("chromium did not finish in 90 s"); }
        try { Directory.Delete(profile, recursive: true); } catch (IOException) { }
        return stdout.Result;
    }
}
