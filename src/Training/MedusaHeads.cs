using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pardec.Training;

/// <summary>
/// Medusa-1 heads (Cai et al. 2024): head k maps the target's last hidden state h (after the final norm) through a
/// residual block <c>h + SiLU(W_k h + b_k)</c> and then the LM head, and predicts the token k+2 positions after the
/// last input token (the target itself predicts k+1 = 1).
/// </summary>
/// <remarks>
/// The heads share the target's frozen LM head instead of carrying their own copy: an unshared head would add
/// vocab x hidden (1M) parameters per head, i.e. 8 MB bf16 for four heads, more than the target's whole decoder stack,
/// while the residual block alone recovers most of the accuracy at this size. Parameters are stored in the Medusa
/// repository's layout, <c>medusa_head.{k}.0.linear.{weight,bias}</c>; <c>medusa_config.json</c> says
/// <c>"shared_lm_head": true</c> so a loader knows there is no <c>medusa_head.{k}.1.weight</c>.
/// The linear layers start at zero, as in Medusa, so every head starts out as the target's own next-token guess.
/// </remarks>
public sealed class MedusaHeads : nn.Module
{
    private readonly Linear[] _linears;

    public int Count => _linears.Length;

    public MedusaHeads(int heads, int hidden) : base("medusa_heads")
    {
        _linears = new Linear[heads];
        for (int k = 0; k < heads; k++)
        {
            _linears[k] = nn.Linear(hidden, hidden, hasBias: true);
            register_module($"h{k}", _linears[k]);
        }
        using var _ = torch.no_grad();
        foreach (var p in parameters()) p.zero_();
    }

    /// <summary>Head k's logits <c>[batch, n, vocab]</c> from the hidden state <c>[batch, n, hidden]</c> and the shared LM head.</summary>
    public Tensor Logits(int k, Tensor hidden, Tensor lmHeadWeight)
    {
        var h = hidden + nn.functional.silu(_linears[k].forward(hidden));
        return nn.functional.linear(h, lmHeadWeight);
    }

    /// <summary>The Medusa-layout tensor names this module saves and loads.</summary>
    public Dictionary<string, Tensor> ToMedusaStateDict()
    {
        var dict = new Dictionary<string, Tensor>();
        for (int k = 0; k < _linears.Length; k++)
        {
            dict[$"medusa_head.{k}.0.linear.weight"] = _linears[k].weight!;
            dict[$"medusa_head.{k}.0.linear.bias"] = _linears[k].bias!;
        }
        return dict;
    }

    public void LoadMedusaStateDict(IReadOnlyDictionary<string, Tensor> dict, string source)
    {
        using var _ = torch.no_grad();
        foreach (var (name, target) in ToMedusaStateDict())
        {
            if (!dict.TryGetValue(name, out var t))
                throw new TrainingException($"{source}: tensor '{name}' is missing");
            if (!t.shape.SequenceEqual(target.shape))
                throw new TrainingException($"{source}: tensor '{name}' has shape [{string.Join(", ", t.shape)}], expected [{string.Join(", ", target.shape)}]");
            target.copy_(t.to_type(target.dtype));
        }
    }
}
