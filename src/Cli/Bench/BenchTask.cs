using System.Text.Json;

namespace Pardec.Cli.Bench;

/// <summary>
/// A benchmark task: a model family and held-out prompts from <c>models/eval/prompts.*.jsonl</c>. <c>english</c>
/// continues KJV text, <c>copy</c> asks for a summary whose answer copies from the prompt (where lookup-style
/// strategies shine), <c>code</c> completes Python.
/// </summary>
public sealed record BenchTask(string Name, string Models, string PromptFile, string[] Kinds)
{
    public static readonly BenchTask[] Known =
    [
        new("english", "english", "prompts.english.jsonl", ["continue"]),
        new("copy", "english", "prompts.english.jsonl", ["summarize", "copy"]),
        new("code", "code", "prompts.code.jsonl", ["continue"]),
    ];

    public static BenchTask Find(string name) => Known.FirstOrDefault(t => t.Name == name.Trim().ToLowerInvariant())
        ?? throw new CliException($"unknown task '{name}'; the tasks are {string.Join(", ", Known.Select(t => t.Name))}");

    public IReadOnlyList<string> Prompts(string modelsRoot, int count)
    {
        string path = Path.Combine(modelsRoot, "eval", PromptFile);
        if (!File.Exists(path)) throw new CliException($"prompt set not found for task '{Name}': {path}");
        var prompts = new List<string>();
        int line = 0;
        foreach (string text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            try
            {
                using var doc = JsonDocument.Parse(text);
                string kind = doc.RootElement.TryGetProperty("kind", out var k) ? k.GetString() ?? "" : "continue";
                if (Kinds.Contains(kind) && doc.RootElement.TryGetProperty("prompt", out var p) && p.GetString() is { Length: > 0 } prompt)
                    prompts.Add(prompt);
            }
            catch (JsonException e) { throw new CliException($"{path}({line}): not a JSON line: {e.Message}"); }
            if (prompts.Count == count) break;
        }
        if (prompts.Count == 0) throw new CliException($"{path} has no prompts of kind {string.Join("/", Kinds)} for task '{Name}'");
        return prompts;
    }
}

/// <summary>One strategy on one task, summed over the task's prompts.</summary>
public sealed record BenchRow(
    string Task, string Strategy, string Guarantee, int Prompts, int Tokens, double Seconds, double TokensPerSecond,
    double Speedup, double MeanAcceptedPerStep, int TargetForwards, int DraftForwards, bool? IdenticalToAr, string? Skipped);
