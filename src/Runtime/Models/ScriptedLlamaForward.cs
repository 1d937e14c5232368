using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>
/// The Llama forward (<see cref="LlamaForCausalLM"/>) as one TorchScript function, compiled once per process and
/// invoked once per forward: the same ATen ops in the same order as the eager modules (so the logits are
/// bit-identical, <c>ScriptedForwardTests</c>), but run by libtorch's interpreter instead of one P/Invoke and one
/// managed <see cref="Tensor"/> handle per op. A 16-layer eager forward makes about 1,100 op calls and allocates
/// ~115 KB of handles that the GC must collect; <c>forward_into</c> through <see cref="NativeScript"/> allocates nothing.
/// </summary>
internal static class ScriptedLlamaForward
{
    // TorchScript compiled from a string resolves no torch.* dtype names: 6 is ScalarType Float (float32) and
    // .float() is to(float32). Every argument is a tensor or a tensor list (NativeScript passes handles only): the
    // constants travel in a float64 tensor made with the model and the per-call values (cache length, flags, skipped
    // layers) in an int64 tensor the cache owns (CallSlots).
    // Weights per layer, in this order; the model's own three (embed_tokens, norm, lm_head or the tied embedding) come first.
    public const int PerLayer = 9;

    private const string Source = """
def rms_norm(x: Tensor, w: Tensor, eps: float) -> Tensor:
    xf = x.float()
    inv = (xf * xf).mean([-1], keepdim=True).add_(eps, alpha=1).rsqrt_()
    return w * (xf * inv).to(x.dtype)

def rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.size(3) // 2
    x1 = x.narrow(3, 0, half)
    x2 = x.narrow(3, half, half)
    rotated = torch.cat([x2.neg(), x1], 3)
    return (x * cos).add_(rotated * sin, alpha=1)

def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, explicit: bool, scale: float) -> Tensor:
    if not explicit:
        return torch.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = torch.matmul(q, k.transpose(2, 3)).float()
    scores.mul_(scale).add_(mask, alpha=1)
    return torch.matmul(scores.softmax(-1).to(q.dtype), v)

def run(tokens: Tensor, positions: Tensor, bool_mask: Tensor, weights: List[Tensor], cos_table: Tensor, sin_table: Tensor,
        keys: List[Tensor], values: List[Tensor], consts: Tensor, call: Tensor) -> Tuple[Tensor, Tensor]:
    c: List[float] = consts.tolist()
    heads = int(c[0])
    kv_heads = int(c[1])
    head_dim = int(c[2])
    n_layers = int(c[3])
    eps = c[4]
    scale = c[5]
    a: List[int] = call.tolist()
    length = a[0]
    cached = a[1] != 0
    explicit = a[2] != 0
    skipped = a[5:5 + a[4]]
    total = (length if cached else 0) + tokens.size(1)
    if bool_mask.size(3) != total:
        bool_mask = bool_mask.narrow(3, 0, total)
    if explicit:
        mask = torch.zeros(bool_mask.size(), dtype=6, device=bool_mask.device).masked_fill_(bool_mask.logical_not(), float("-inf"))
    else:
        mask = bool_mask
    batch = tokens.size(0)
    n = tokens.size(1)
    h = torch.embedding(weights[0], tokens)
    flat = positions.reshape(-1)
    cos = cos_table.index_select(0, flat).view(batch, 1, n, head_dim)
    sin = sin_table.index_select(0, flat).view(batch, 1, n, head_dim)
    for layer in range(n_layers):
        if layer in skipped:
            continue
        w = 3 + layer * 9
        x = rms_norm(h, weights[w], eps)
        q = torch.linear(x, weights[w + 1]).view(batch, n, heads, head_dim).transpose(1, 2)
        k = torch.linear(x, weights[w + 2]).view(batch, n, kv_heads, head_dim).transpose(1, 2)
        v = torch.linear(x, weights[w + 3]).view(batch, n, kv_heads, head_dim).transpose(1, 2)
        q = rope(q, cos, sin)
        k = rope(k, cos, sin)
        if cached:
            keys[layer].narrow(2, length, n).copy_(k)
            values[layer].narrow(2, length, n).copy_(v)
            k = keys[layer].narrow(2, 0, length + n)
            v = values[layer].narrow(2, 0, length + n)
        if kv_heads == heads:
            o = attention(q, k, v, mask, explicit, scale)
        else:
            group = heads // kv_heads
            total = k.size(2)
            mask_batch = mask.size(0)
            folded = q.reshape(batch, kv_heads, group * n, head_dim)
            folded_mask = mask.unsqueeze(2).expand(mask_batch, 1, group, n, total).reshape(mask_batch, 1, group * n, total)
            o = attention(folded, k, v, folded_mask, explicit, scale).reshape(batch, heads, n, head_dim)
        o = o.transpose(1, 2).reshape(batch, n, heads * head_dim)
        h = h.add(torch.linear(o, weights[w + 4]), alpha=1)
        x = rms_norm(h, weights[w + 5], eps)
        m = torch.linear(torch.silu(torch.linear(x, weights[w + 6])) * torch.linear(x, weights[w + 7]), weights[w + 8])
        h = h.add(m, alpha=1)
    h = rms_norm(h, weights[1], eps)
    return torch.linear(h, weights[2]), h

def forward(tokens: Tensor, positions: Tensor, bool_mask: Tensor, weights: List[Tensor], cos_table: Tensor, sin_table: Tensor,
            keys: List[Tensor], values: List[Tensor], consts: Tensor, call: Tensor) -> List[Tensor]:
    logits, h = run(tokens, positions, bool_mask, weights, cos_table, sin_table, keys, values, consts, call)
    if logits.dtype != 6:
        logits = logits.float()
    if int(call[3].item()) != 0:
        return [logits, h]
    return [logits]

def forward_into(tokens: Tensor, positions: Tensor, bool_mask: Tensor, weights: List[Tensor], cos_table: Tensor, sin_table: Tensor,
                 keys: List[Tensor], values: List[Tensor], consts: Tensor, call: Tensor, logits_out: Tensor, hidden_out: Tensor):
    logits, h = run(tokens, positions, bool_mask, weights, cos_table, sin_table, keys, values, consts, call)
    n = tokens.size(1)
    logits_out.narrow(1, 0, n).copy_(logits)
    if int(call[3].item()) != 0:
        hidden_out.narrow(1, 0, n).copy_(h)
""";

    private static readonly Lazy<NativeScript> Unit = new(() => new NativeScript(Source));

    /// <summary>The compiled unit, compiled on first use (a few tens of milliseconds) and kept for the process.</summary>
    public static NativeScript Script => Unit.Value;

    /// <summary><c>forward(...)</c>: returns <c>[logits]</c> or <c>[logits, hidden]</c> as new tensors.</summary>
    public static readonly unsafe byte* Forward = NativeScript.Name("forward");

    /// <summary><c>forward_into(..., logits_out, hidden_out)</c>: writes the first n rows of caller-owned outputs, returns nothing.</summary>
    public static readonly unsafe byte* ForwardInto = NativeScript.Name("forward_into");

    /// <summary>
    /// Slots of the per-call int64 argument: cache length, cached (0/1), explicit attention (0/1), return hidden (0/1),
    /// the number of skipped layers, then the skipped layer indices.
    /// </summary>
    public static int CallSlots(int layers) => 5 + layers;
}
