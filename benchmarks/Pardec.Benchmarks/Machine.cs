namespace Pardec.Benchmarks;

/// <summary>
/// What CPU a result was measured on. The shared machines here change between sessions (AVX512_BF16 one day, AVX2 only the
/// next), and bf16 speed in particular depends on it, so every result file names it.
/// </summary>
internal static class Machine
{
    public static string Cpu { get; } = Describe();

    private static string Describe()
    {
        try
        {
            if (!File.Exists("/proc/cpuinfo")) return Environment.ProcessorCount + " CPUs";
            string name = "?", family = "?", model = "?", flags = "";
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                int colon = line.IndexOf(':');
                if (colon < 0) continue;
                string key = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
                if (key == "model name" && name == "?") name = value;
                else if (key == "cpu family" && family == "?") family = value;
                else if (key == "model" && model == "?") model = value;
                else if (key == "flags" && flags.Length == 0) { flags = " " + value + " "; break; }
            }
            string isa = flags.Contains(" amx_bf16 ", StringComparison.Ordinal) ? "AMX-BF16"
                : flags.Contains(" avx512_bf16 ", StringComparison.Ordinal) ? "AVX512_BF16"
                : flags.Contains(" avx512f ", StringComparison.Ordinal) ? "AVX-512 (no BF16)"
                : flags.Contains(" avx2 ", StringComparison.Ordinal) ? "AVX2 (no AVX-512)" : "no AVX2";
            return $"{name} (family {family}, model {model}), {isa}, {Environment.ProcessorCount} CPUs";
        }
        catch (IOException) { return Environment.ProcessorCount + " CPUs"; }
    }
}
