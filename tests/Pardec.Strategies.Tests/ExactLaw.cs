using Pardec.Runtime.Models;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>
/// The exact sampling law of a small target, computed straight from its logits, for the distribution tests: tiny
/// vocabularies and no end token, so every decode yields its first two tokens and their joint law has vocab² cells.
/// </summary>
internal static class ExactLaw
{
    /// <summary>A seeded random Llama with vocabulary <paramref name="vocab"/> and no end token.</summary>
    public static CausalLMBase RandomModel(long seed, int layers, int vocab, double std)
    {
        var config = TinyModels.Config(layers: layers, hidden: 16, vocab: vocab, heads: 2, kvHeads: 1) with { EosTokenIds = [] };
        var model = CausalLM.CreateRandom(config, CPU, ScalarType.Float32, seed, std);
        model.eval();
        return model;
    }

    /// <summary>p(x1) · p(x2 | x1) after the prompt [0] at <paramref name="temperature"/>, row-major [vocab · vocab].</summary>
    public static double[] TwoTokenJoint(ICausalLM model, int vocab, double temperature)
    {
        using var _ = no_grad();
        var joint = new double[vocab * vocab];
        var first = Next(model, [0], temperature);
        for (int a = 0; a < vocab; a++)
        {
            var second = Next(model, [0, a], temperature);
            for (int b = 0; b < vocab; b++) joint[a * vocab + b] = first[a] * second[b];
        }
        return joint;
    }

    /// <summary>The next-token law after <paramref name="context"/> at <paramref name="temperature"/>, in f64.</summary>
    public static double[] Next(ICausalLM model, long[] context, double temperature)
    {
        using var scope = NewDisposeScope();
        int n = context.Length;
        using var output = model.Forward(tensor(context).view(1, n), arange(n, dtype: ScalarType.Int64).view(1, n),
                                         ones(n, n, ScalarType.Bool).tril().view(1, 1, n, n), null);
        return (output.Logits[0, n - 1].to(ScalarType.Float64) / temperature).softmax(-1).data<double>().ToArray();
    }
}
