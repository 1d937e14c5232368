using System.CommandLine;
using System.Globalization;
using Pardec.Runtime.Chat;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Runtime.Tokenization;
using Spectre.Console;

namespace Pardec.Cli.Commands;

/// <summary>
/// <c>pardec inspect DIR</c>: what a checkpoint directory is, read from its config, weight headers and tokenizer files
/// without loading a weight: architecture, parameter count, storage dtypes, context length, attention layout,
/// tokenizer kind, special tokens and whether a chat template is present. Every problem is the loader's typed error.
/// </summary>
internal static class InspectCommand
{
    public static Command Create(CliContext context)
    {
        var dir = new Argument<string>("dir") { Description = "A Hugging Face model directory (config.json, safetensors, tokenizer files)" };
        var command = new Command("inspect", "Describe a model directory: architecture, size, dtype, context, tokenizer, chat template") { dir };
        command.SetAction(parse => Cli.Guard(context, () =>
        {
            string path = parse.GetValue(dir)!;
            if (!Directory.Exists(path)) throw new CliException($"model directory not found: {path}");
            var config = ModelConfig.Load(Path.Combine(path, PretrainedModel.ConfigFileName));
            var weights = CheckpointWeights.Open(path);
            var tokenizer = TextTokenizer.FromDirectory(path, config);
            var generation = GenerationConfig.Load(Path.Combine(path, GenerationConfig.FileName));

            var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(Path.GetFullPath(path)));
            table.AddColumn("Property");
            table.AddColumn("Value");
            void Row(string name, string value) => table.AddRow(new Text(name), new Text(value));
            Row("architecture", $"{config.ModelType} ({Describe(config)})");
            long parameters = weights.Entries.Values.Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));
            Row("parameters", $"{Size(parameters)} in {weights.Entries.Count} tensors, {weights.Files.Count} file(s)" + (config.TieWordEmbeddings ? ", tied embeddings" : ""));
            Row("dtype", $"stored {string.Join(" + ", weights.Entries.Values.GroupBy(e => e.DType).OrderByDescending(g => g.Count()).Select(g => AutoDType.Name(g.Key)))}"
                + (config.TorchDtype is { } td ? $", torch_dtype {td}" : ""));
            Row("layers", $"{config.NumHiddenLayers} x hidden {config.HiddenSize}, MLP {config.IntermediateSize} ({config.HiddenAct})");
            Row("attention", $"{config.NumAttentionHeads} heads, {config.NumKeyValueHeads} KV heads, head_dim {config.HeadDim}" + Window(config));
            Row("context", $"{config.MaxPositionEmbeddings} positions, RoPE theta {config.RopeTheta.ToString(CultureInfo.InvariantCulture)}"
                + (config.RopeScaling is { } rs ? $", rope_scaling {rs.Type} x{rs.Factor.ToString(CultureInfo.InvariantCulture)}" : "")
                + (config.RopeLocalTheta is double local ? $", local theta {local.ToString(CultureInfo.InvariantCulture)}" : ""));
            if (tokenizer is null) Row("tokenizer", "none (expected tokenizer.json, tokenizer.model or vocab.json + merges.txt)");
            else
            {
                Row("tokenizer", $"{tokenizer.Kind}, {tokenizer.VocabSize} ids");
                Row("special tokens", $"BOS {Token(tokenizer, tokenizer.BosId)}" + (tokenizer.AddsBosByDefault ? " (added to prompts)" : "")
                    + $"; EOS {string.Join(", ", tokenizer.EosIds.Select(id => Token(tokenizer, id)))}");
                var template = ModelChatTemplate.FromDirectory(path); // also chat_template.jinja / .json; a broken template is an error here
                Row("chat template", template is null ? "no"
                    : $"yes ({template.Template.Text.Length} characters), a turn ends with {string.Join(" or ", template.EndOfTurn)}");
            }
            if (generation is not null)
                Row("generation defaults", string.Join(", ", new[]
                {
                    generation.Temperature is double temp ? $"temperature {temp.ToString(CultureInfo.InvariantCulture)}" : null,
                    generation.TopP is double p ? $"top_p {p.ToString(CultureInfo.InvariantCulture)}" : null,
                    generation.TopK is int k ? $"top_k {k}" : null,
                    generation.DoSample is bool s ? $"do_sample {s.ToString().ToLowerInvariant()}" : null,
                }.Where(x => x is not null)) is { Length: > 0 } d ? d : "none");
            context.Console.Write(table);
            return Cli.Success;
        }));
        return command;
    }

    private static string Describe(ModelConfig c) => c.ModelType switch
    {
        "llama" => c.RopeScaling is null ? "Llama layout: Llama 2, SmolLM2, TinyLlama" : "Llama 3.x layout",
        "qwen2" => "Qwen2/Qwen2.5: q/k/v bias",
        "qwen3" => "Qwen3: per-head q/k RMSNorm",
        "mistral" => "Mistral: sliding-window attention",
        "gemma3_text" => "Gemma 3 text: scaled embedding, (1 + w) and sandwich norms, GELU-tanh, local/global layers",
        "gpt2" => "GPT-2",
        _ => c.ModelType,
    };

    private static string Window(ModelConfig c)
    {
        if (!c.HasSlidingLayers) return "";
        int sliding = Enumerable.Range(0, c.NumHiddenLayers).Count(c.IsSlidingLayer);
        return $", sliding window {c.SlidingWindow} on {sliding} of {c.NumHiddenLayers} layers";
    }

    private static string Token(TextTokenizer t, int? id) => id is int i ? $"{i} {t.IdToToken(i) ?? "?"}" : "none";

    private static string Size(long n) => n switch
    {
        >= 1_000_000_000 => (n / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + "B",
        >= 1_000_000 => (n / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + "M",
        _ => n.ToString("N0", CultureInfo.InvariantCulture),
    };
}
