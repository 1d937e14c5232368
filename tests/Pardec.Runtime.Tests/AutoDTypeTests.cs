using Pardec.Runtime.Loading;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests;

public sealed class AutoDTypeTests
{
    public AutoDTypeTests() => Init();

    private static string Checkpoint(TempDir dir, string? torchDtype, long weightBytes)
    {
        string config = torchDtype is null ? "{\"model_type\": \"llama\"}" : $"{{\"model_type\": \"llama\", \"torch_dtype\": \"{torchDtype}\"}}";
        File.WriteAllText(Path.Combine(dir.Path, "config.json"), config);
        using (var f = File.Create(Path.Combine(dir.Path, "model.safetensors"))) f.SetLength(weightBytes); // sparse: no disk used
        return dir.Path;
    }

    [Fact]
    public void A_large_bf16_checkpoint_runs_in_bf16_exactly_where_the_cpu_has_fast_bf16()
    {
        using var dir = new TempDir();
        var expected = AutoDType.HasFastBFloat16(CPU) ? ScalarType.BFloat16 : ScalarType.Float32;
        Assert.Equal(expected, AutoDType.For(Checkpoint(dir, "bfloat16", AutoDType.SmallModelBytes + 1), CPU));
    }

    [Theory]
    [InlineData("float32")]
    [InlineData("float16")]
    [InlineData(null)]
    public void A_checkpoint_not_stored_as_bf16_runs_in_f32(string? torchDtype)
    {
        using var dir = new TempDir();
        Assert.Equal(ScalarType.Float32, AutoDType.For(Checkpoint(dir, torchDtype, AutoDType.SmallModelBytes * 4), CPU));
    }

    [Fact]
    public void A_small_bf16_checkpoint_runs_in_f32_on_the_cpu_where_per_call_overhead_rules()
    {
        using var dir = new TempDir();
        Assert.Equal(ScalarType.Float32, AutoDType.For(Checkpoint(dir, "bfloat16", 10L << 20), CPU));
    }

    [Fact]
    public void A_directory_without_a_config_gives_f32_and_leaves_the_error_to_the_loader()
    {
        using var dir = new TempDir();
        Assert.Equal(ScalarType.Float32, AutoDType.For(dir.Path, CPU));
        Assert.Equal(ScalarType.Float32, AutoDType.For(Path.Combine(dir.Path, "missing"), CPU));
    }
}
