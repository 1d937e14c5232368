using Pardec.Runtime.Quantization;
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
    // constants travel in a float64 tensor made with the model (Constants below) and the per-call values (cache length,
    // flags, skipped layers) in an int64 tensor the cache owns (CallSlots).
    // Weights: the model's own five first (embed_tokens, norm, lm_head or the tied embedding, Gemma's embedding scale,
    // the LM head's quantization scales), then PerLayer per layer in LayerSlot order; a weight the architecture lacks
    // is a shared empty placeholder the script never reads (its flag in the constants is off). A quantized linear
    // (Quantization/QuantizedLinear.cs) puts its kernel weight in the weight slot and its scales in the matching *Scale
    // slot; `lin` dispatches on the weight's dtype (int8 / uint8 int4 pack), so every linear chooses its own format.
    public const int ModelWeights = 5;
    public const int PerLayer = 27;

    /// <summary>The per-layer weight slots of the compiled forward (and of <c>DecoderLayer.AddWeights</c>).</summary>
    public enum LayerSlot
    {
        InputNorm, Q, K, V, O, QBias, KBias, VBias, OBias, QNorm, KNorm,
        // Llama: the pre-MLP norm. Gemma: the norm of the attention output (its pre-MLP norm is PreFeedforwardNorm).
        PostAttentionNorm, PreFeedforwardNorm, PostFeedforwardNorm,
        Gate, Up, Down, GateBias, UpBias, DownBias,
        // Quantized linears' scales (int8: [out]; int4: scales and zeros [in / group, out, 2]); the placeholder for float ones.
        QScale, KScale, VScale, OScale, GateScale, UpScale, DownScale,
    }

    /// <summary>Slots of the float64 constants: scalars first, then one sliding flag per layer.</summary>
    public enum Constant
    {
        Heads, KVHeads, HeadDim, Layers, Eps, Scale, QkvBias, OBias, MlpBias, QkNorm, Gemma, GeluTanh, QueryMultiplier,
        Softcap, Window, EmbedScale, FirstLayerFlag,
    }

    private const string Source = QuantizedKernels.LinearSource + """
def rms_norm(x: Tensor, w: Tensor, eps: float, gemma: bool) -> Tensor:
    xf = x.float()
    inv = (xf * xf).mean([-1], keepdim=True).add_(eps, alpha=1).rsqrt_()
    if gemma:
        return ((xf * inv) * (w.float() + 1.0)).to(x.dtype)
    return w * (xf * inv).to(x.dtype)

def lin(x: Tensor, w: Tensor, s: Tensor, b: Tensor, has_bias: bool) -> Tensor:
    if w.dtype == 1 or w.dtype == 0:
        return qlin(x, w, s, b, has_bias)
    if has_bias:
        return torch.linear(x, w, b)
    return torch.linear(x, w)

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

def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, explicit: bool, scale: float, batch: int, n: int, heads: int,
           kv_heads: int, head_dim: int) -> Tensor:
    if kv_heads == heads:
        o = attention(q, k, v, mask, explicit, scale)
    else:
        group = heads // kv_heads
        total = k.size(2)
        mask_batch = mask.size(0)
        folded = q.reshape(batch, kv_heads, group * n, head_dim)
        folded_mask = mask.unsqueeze(2).expand(mask_batch, 1, group, n, total).reshape(mask_batch, 1, group * n, total)
        o = attention(folded, k, v, folded_mask, explicit, scale).reshape(batch, heads, n, head_dim)
    return o.transpose(1, 2).reshape(batch, n, heads * head_dim)

def run(tokens: Tensor, positions: Tensor, bool_mask: Tensor, weights: List[Tensor], cos_table: Tensor, sin_table: Tensor,
        cos_local: Tensor, sin_local: Tensor, keys: List[Tensor], values: List[Tensor], key_positions: Tensor, consts: Tensor,
        call: Tensor) -> Tuple[Tensor, Tensor]:
    c: List[float] = consts.tolist()
    heads = int(c[0])
    kv_heads = int(c[1])
    head_dim = int(c[2])
    n_layers = int(c[3])
    eps = c[4]
    scale = c[5]
    qkv_bias = c[6] != 0.0
    o_bias = c[7] != 0.0
    mlp_bias = c[8] != 0.0
    qk_norm = c[9] != 0.0
    gemma = c[10] != 0.0
    gelu_tanh = c[11] != 0.0
    q_mult = c[12]
    softcap = c[13]
    window = int(c[14])
    embed_scale = c[15] != 0.0
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
    window_mask = mask
    if window > 0:
        # A sliding-window layer sees keys at positions (p - window, p]; positions, not slots (trees, ragged rows).
        if cached:
            key_positions.narrow(1, length, tokens.size(1)).copy_(positions)
            kp = key_positions.narrow(1, 0, total)
        else:
            kp = positions
        within = (positions.unsqueeze(2) - kp.unsqueeze(1)).lt(window).unsqueeze(1)
        window_bool = bool_mask.logical_and(within)
        if explicit:
            window_mask = torch.zeros(window_bool.size(), dtype=6, device=bool_mask.device).masked_fill_(window_bool.logical_not(), float("-inf"))
        else:
            window_mask = window_bool
    batch = tokens.size(0)
    n = tokens.size(1)
    h = torch.embedding(weights[0], tokens)
    if embed_scale:
        h = h * weights[3]
    flat = positions.reshape(-1)
    cos = cos_table.index_select(0, flat).view(batch, 1, n, head_dim)
    sin = sin_table.index_select(0, flat).view(batch, 1, n, head_dim)
    # Only Gemma 3 has separate local tables; every other model passes empty ones and its layers share one gather.
    if cos_local.numel() == 0:
        cos_l = cos
        sin_l = sin
    else:
        cos_l = cos_local.index_select(0, flat).view(batch, 1, n, head_dim)
        sin_l = sin_local.index_select(0, flat).view(batch, 1, n, head_dim)
    for layer in range(n_layers):
        if layer in skipped:
            continue
        w = 5 + layer * 27
        sliding = c[16 + layer] != 0.0
        x = rms_norm(h, weights[w], eps, gemma)
        q = lin(x, weights[w + 1], weights[w + 20], weights[w + 5], qkv_bias).view(batch, n, heads, head_dim)
        k = lin(x, weights[w + 2], weights[w + 21], weights[w + 6], qkv_bias).view(batch, n, kv_heads, head_dim)
        v = lin(x, weights[w + 3], weights[w + 22], weights[w + 7], qkv_bias).view(batch, n, kv_heads, head_dim).transpose(1, 2)
        if qk_norm:
            q = rms_norm(q, weights[w + 9], eps, gemma)
            k = rms_norm(k, weights[w + 10], eps, gemma)
        q = q.transpose(1, 2)
        k = k.transpose(1, 2)
        if sliding:
            q = rope(q, cos_l, sin_l)
            k = rope(k, cos_l, sin_l)
        else:
            q = rope(q, cos, sin)
            k = rope(k, cos, sin)
        if q_mult != 1.0:
            q = q * q_mult
        if cached:
            keys[layer].narrow(2, length, n).copy_(k)
            values[layer].narrow(2, length, n).copy_(v)
            k = keys[layer].narrow(2, 0, length + n)
            v = values[layer].narrow(2, 0, length + n)
        o = attend(q, k, v, window_mask if sliding else mask, explicit, scale, batch, n, heads, kv_heads, head_dim)
        o = lin(o, weights[w + 4], weights[w + 23], weights[w + 8], o_bias)
        if gemma:
            o = rms_norm(o, weights[w + 11], eps, True)
            h = h.add(o, alpha=1)
            x = rms_norm(h, weights[w + 12], eps, True)
        else:
            h = h.add(o, alpha=1)
            x = rms_norm(h, weights[w + 11], eps, False)
        g = lin(x, weights[w + 14], weights[w + 24], weights[w + 17], mlp_bias)
        if gelu_tanh:
            g = torch.gelu(g, approximate="tanh")
        else:
            g = torch.silu(g)
        m = lin(g * lin(x, weights[w + 15], weights[w + 25], weights[w + 18], mlp_bias), weights[w + 16], weights[w + 26], weights[w + 19], mlp_bias)
        if gemma:
            m = rms_norm(m, weights[w + 13], eps, True)
        h = h.add(m, alpha=1)
    h = rms_norm(h, weights[1], eps, gemma)
    logits = lin(h, weights[2], weights[4], weights[4], False)
    if softcap > 0.0:
        logits = (logits / softcap).tanh() * softcap
    return logits, h

def forward(tokens: Tensor, positions: Tensor, bool_mask: Tensor, weights: List[Tensor], cos_table: Tensor, sin_table: Tensor,
            cos_local: Tensor, sin_local: Tensor, keys: List[Tensor], values: List[Tensor], key_positions: Tensor, consts: Tensor,
            call: Tensor) -> List[Tensor]:
    logits, h = run(tokens, positions, bool_mask, weights, cos_table, sin_table, cos_local, sin_local, keys, values, key_positions, consts, call)
    if logits.dtype != 6:
        logits = logits.float()
    if int(call[3].item()) != 0:
        return [logits, h]
    return [logits]

def forward_into(tokens: Tensor, positions: Tensor, bool_mask: Tensor, weights: List[Tensor], cos_table: Tensor, sin_table: Tensor,
                 cos_local: Tensor, sin_local: Tensor, keys: List[Tensor], values: List[Tensor], key_positions: Tensor, consts: Tensor,
                 call: Tensor, logits_out: Tensor, hidden_out: Tensor):
    logits, h = run(tokens, positions, bool_mask, weights, cos_table, sin_table, cos_local, sin_local, keys, values, key_positions, consts, call)
    n = tokens.size(1)
    logits_out.narrow(1, 0, n).copy_(logits)
    if int(call[3].item()) != 0:
        hidden_out.narrow(1, 0, n).copy_(h)
""";

    /// <summary>Argument count of <c>forward</c>; <c>forward_into</c> takes two more (the outputs).</summary>
    public const int ForwardArguments = 13;

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
