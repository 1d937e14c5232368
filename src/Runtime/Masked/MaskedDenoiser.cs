using Pardec.Runtime.Models;

namespace Pardec.Runtime.Masked;

/// <summary>
/// The check both engines make when a masked decoder is built: the model is the kind of denoiser the strategy declared
/// (<c>model m: masked</c> — fully bidirectional — or <c>masked(block_causal: n)</c>, and <c>shifted: true|false</c> when
/// said). A cache mode or commit rule is only as exact as the model makes it, so a strategy whose guarantee rests on
/// a block-causal model must not silently run on a bidirectional one, nor the other way round.
/// </summary>
public static class MaskedDenoiser
{
    /// <param name="model">The model bound to the role.</param>
    /// <param name="strategy">The strategy's name (for the message).</param>
    /// <param name="role">The masked model's role in the strategy.</param>
    /// <param name="blockCausal">The declared block of a block-causal denoiser; null for a fully bidirectional one.</param>
    /// <param name="shifted">The declared shift; null when the strategy accepts either.</param>
    /// <exception cref="ArgumentException">The model's config says otherwise; the message names its directory and field.</exception>
    public static void Check(ICausalLM model, string strategy, string role, int? blockCausal, bool? shifted)
    {
        ArgumentNullException.ThrowIfNull(model);
        var config = model.Config;
        string where = config.SourcePath is { } path ? $"the model at {Path.GetDirectoryName(Path.GetFullPath(path))} ({Path.GetFileName(path)}" : "the model (a config built in memory";
        string declared = blockCausal is int b ? $"a block-causal denoiser of block {b} (masked(block_causal: {b}))" : "a fully bidirectional denoiser (masked)";
        if (config.DenoiserBlock is not int actual)
        {
            if (blockCausal is not null)
                throw new ArgumentException($"Strategy {strategy} declares '{role}' {declared}, but {where}: model_type '{config.ModelType}' has no bd_size) is fully bidirectional.", nameof(model));
        }
        else if (blockCausal is null)
        {
            throw new ArgumentException($"Strategy {strategy} declares '{role}' {declared}, but {where}: bd_size {actual}) is block-causal; declare 'model {role}: masked(block_causal: {actual})'.", nameof(model));
        }
        else if (blockCausal != actual)
        {
            throw new ArgumentException($"Strategy {strategy} declares '{role}' {declared}, but {where}: bd_size {actual}) attends in blocks of {actual}.", nameof(model));
        }

        if (shifted is bool s && s != config.ShiftedLogits)
        {
            string field = config.ModelType is "Dream" or ModelConfig.FastDllmQwen ? $"model_type '{config.ModelType}', shifted by construction"
                         : config.ModelType == "llada" ? "model_type 'llada', never shifted" : $"shift_logits {(config.ShiftedLogits ? "true" : "absent or false")}";
            throw new ArgumentException($"Strategy {strategy} declares '{role}' shifted: {(s ? "true" : "false")}, but {where}: {field}) predicts the token at {(config.ShiftedLogits ? "i + 1" : "i")} from position i.", nameof(model));
        }
    }
}
