using Pardec.Runtime.Tests.RealLayouts;

namespace Pardec.Benchmarks;

/// <summary>
/// <c>seeded-checkpoint SPEC.json OUT_DIR [--tokenizers DIR]</c>: writes the seeded real-layout checkpoint of a spec
/// (tests/fixtures/peer-models/&lt;family&gt;/checkpoint.json) as a Hugging Face directory, for
/// benchmarks/peer/make-peer-fixtures.py to convert to GGUF. The same code regenerates it in the tests.
/// </summary>
public static class SeededCheckpointCommand
{
    public static int Run(string[] args)
    {
        string? tokenizers = null;
        var positional = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--tokenizers" && i + 1 < args.Length) tokenizers = args[++i];
            else positional.Add(args[i]);
        }
        if (positional.Count != 2)
        {
            Console.Error.WriteLine("usage: seeded-checkpoint SPEC.json OUT_DIR [--tokenizers DIR]");
            return 2;
        }
        SeededCheckpoints.Write(positional[0], positional[1], tokenizers);
        Console.WriteLine($"wrote {positional[1]}");
        return 0;
    }
}
