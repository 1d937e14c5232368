using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Loading;

/// <summary>
/// The dtype to run a checkpoint in when the user did not choose one (<c>--dtype auto</c>, like Hugging Face's
/// <c>torch_dtype="auto"</c>): the checkpoint's own bfloat16 where the device computes it fast, else float32.
/// </summary>
/// <remarks>
/// Measured on one core of an AVX512_BF16 EPYC (benchmarks/results/forward-sweep-*): a 106M-parameter Llama's forward
/// of 12 tokens costs 1.3x one token in bf16 (oneDNN's bf16 GEMMs) but 2.3x in f32 (MKL's small-M sgemm runs row by
/// row there), and one token takes 21 ms against 32 ms. A CPU without AVX512_BF16 or AMX converts bf16 in software
/// and is many times slower than f32, so it gets f32. Small models are the exception: their forward is per-call
/// overhead, which oneDNN's bf16 primitives pay more of than MKL's f32 calls (the shipped 0.9M draft: 0.9 ms per
/// token in bf16, 0.5 ms in f32), so checkpoints under <see cref="SmallModelBytes"/> run in f32 on the CPU.
/// </remarks>
public static class AutoDType
{
    /// <summary>bf16 checkpoints smaller than this (about 20M parameters) run in f32 on the CPU.</summary>
    public const long SmallModelBytes = 40L << 20;

    private static readonly Lazy<bool> CpuBFloat16 = new(DetectCpuBFloat16);

    /// <summary>True when bf16 matmuls are fast on <paramref name="device"/>: CUDA, or a CPU with AVX512_BF16 or AMX-BF16.</summary>
    public static bool HasFastBFloat16(Device device) => device.type == DeviceType.CUDA || (device.type == DeviceType.CPU && CpuBFloat16.Value);

    /// <summary>
    /// bf16 when the checkpoint in <paramref name="directory"/> is stored as bf16 (config <c>torch_dtype</c>/<c>dtype</c>),
    /// the device computes bf16 fast, and (on the CPU) the weights are not so small that per-call overhead rules;
    /// otherwise f32. A missing or unreadable config gives f32 (the loader reports the real problem).
    /// </summary>
    public static ScalarType For(string directory, Device device)
    {
        if (!HasFastBFloat16(device) || !StoredAsBFloat16(directory)) return ScalarType.Float32;
        if (device.type == DeviceType.CPU && WeightBytes(directory) < SmallModelBytes) return ScalarType.Float32;
        return ScalarType.BFloat16;
    }

    /// <summary>
    /// The activation dtype for int8 / int4 weights (and GGUF files loaded as stored): bf16 where the CPU computes it fast,
    /// else f32. libtorch's <c>_weight_int8pack_mm</c> / <c>_weight_int4pack_mm_for_cpu</c> are vectorised for bf16 only:
    /// on a Qwen3-0.6B shape, one thread, AVX512_BF16 (benchmarks/results/quantized-decode-qwen3-0.6b.md) int8 decoded
    /// 15.4 tok/s with bf16 activations and 1.1 with f32, int4 22.8 and 0.7.
    /// </summary>
    public static ScalarType ForQuantized(Device device) => HasFastBFloat16(device) ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>"bf16" or "f32", for logs and reports.</summary>
    public static string Name(ScalarType dtype) => dtype switch
    {
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "f16",
        ScalarType.Float64 => "f64",
        _ => "f32",
    };

    private static bool StoredAsBFloat16(string directory)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "config.json")));
            foreach (var key in new[] { "torch_dtype", "dtype" })
                if (doc.RootElement.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String)
                    return v.GetString() is "bfloat16" or "bf16";
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return false;
        }
    }

    private static long WeightBytes(string directory) =>
        Directory.Exists(directory) ? Directory.EnumerateFiles(directory, "*.safetensors").Sum(f => new FileInfo(f).Length) : 0;

    private static bool DetectCpuBFloat16()
    {
        // libtorch has no query for this; Linux lists the CPU's flags. Elsewhere, stay with f32 (the safe choice).
        try
        {
            if (!OperatingSystem.IsLinux() || !File.Exists("/proc/cpuinfo")) return false;
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("flags", StringComparison.Ordinal))
                    return line.Contains(" avx512_bf16", StringComparison.Ordinal) || line.Contains(" amx_bf16", StringComparison.Ordinal);
            return false;
        }
        catch (IOException) { return false; }
    }
}
