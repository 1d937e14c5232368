using BenchmarkDotNet.Attributes;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

public enum WeightType { F32, BF16 }

/// <summary>
/// What one verification forward costs as the number of new tokens grows, on a GPT-2-small-shaped random model
/// (12 layers, 768 wide, vocab 50257): the number that decides how many drafted tokens a strategy can afford to
/// verify per step. The cache is truncated back after every forward so its length stays fixed. One torch thread.
/// </summary>
[MemoryDiagnoser]
public class ForwardCostBenchmarks
{
    private CausalLMBase _model = null!;
    private KVCache _cache = null!;
    private AttentionMaskBuffer _masks = null!;
    private Tensor _tokens = null!;    // [1, NewTokens]
    private Tensor _positions = null!; // [1, NewTokens]
    private Tensor _mask = null!;      // [1, 1, NewTokens, CacheLength + NewTokens]

    [Params(1, 4, 8, 16, 32)] public int NewTokens { get; set; }
    [Params(WeightType.F32, WeightType.BF16)] public WeightType DType { get; set; }
    [Params(128, 1024)] public int CacheLength { get; set; }

    internal static ModelConfig Gpt2SmallShape => new()
    {
        ModelType = "gpt2", VocabSize = 50257, HiddenSize = 768, IntermediateSize = 3072, NumHiddenLayers = 12,
        NumAttentionHeads = 12, NumKeyValueHeads = 12, HeadDim = 64, MaxPositionEmbeddings = 2048, TieWordEmbeddings = true,
        EosTokenIds = [50256],
    };

    // One model per dtype for the whole run: building 124M random parameters per case would dominate the run time.
    private static readonly Dictionary<WeightType, CausalLMBase> Models = [];

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(1);
        var dtype = DType == WeightType.BF16 ? ScalarType.BFloat16 : ScalarType.Float32;
        if (!Models.TryGetValue(DType, out var model))
            Models[DType] = model = CausalLM.CreateRandom(Gpt2SmallShape, torch.CPU, dtype, seed: 1);
        _model = model;
        _cache = _model.CreateCache(1, CacheLength + NewTokens);
        // Attention cost depends on the cache length, not its content: commit CacheLength zero slots, no prefill.
        _cache.Advance(CacheLength);
        _masks = new AttentionMaskBuffer(1, NewTokens, CacheLength + NewTokens, torch.CPU);
        _tokens = torch.randint(0, 50257, [1, NewTokens], generator: new torch.Generator(3)).DetachFromDisposeScope();
        _positions = torch.arange(CacheLength, CacheLength + NewTokens, ScalarType.Int64).unsqueeze(0).DetachFromDisposeScope();
        _mask = _masks.Causal(CacheLength, NewTokens).DetachFromDisposeScope();
    }

    [Benchmark]
    public void Forward()
    {
        using var noGrad = torch.no_grad();
        using var output = _model.Forward(_tokens, _positions, _mask, _cache);
        _cache.Truncate(CacheLength);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tokens.Dispose(); _positions.Dispose(); _mask.Dispose();
        _masks.Dispose(); _cache.Dispose(); // the model is shared by every case of this dtype
    }
}

/// <summary>
/// Managed bytes per plain decode step: the difference between a 64-token and a 32-token generation, divided by
/// 32, is the steady-state allocation of one step (prefill and setup cancel out). A small random Llama keeps it quick.
/// </summary>
[MemoryDiagnoser]
public class DecodeStepAllocationBenchmarks
{
    private CausalLMBase _model = null!;
    private AutoregressiveGenerator _generator = null!;
    private readonly int[] _prompt = [1, 2, 3, 4];
    private readonly GenerationOptions _options32 = new() { MaxNewTokens = 32, StopOnEos = false };
    private readonly GenerationOptions _options64 = new() { MaxNewTokens = 64, StopOnEos = false };

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(1);
        var config = new ModelConfig
        {
            ModelType = "llama", VocabSize = 512, HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2,
            NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDim = 16, MaxPositionEmbeddings = 256,
        };
        _model = CausalLM.CreateRandom(config, torch.CPU, ScalarType.Float32, seed: 1);
        _generator = new AutoregressiveGenerator(_model, null, 128);
    }

    [Benchmark(Baseline = true)]
    public int Generate32Tokens() => _generator.Generate(_prompt, _options32).Tokens.Count;

    [Benchmark]
    public int Generate64Tokens() => _generator.Generate(_prompt, _options64).Tokens.Count;

    [GlobalCleanup]
    public void Cleanup()
    {
        _generator.Dispose();
        _model.Dispose();
    }
}
