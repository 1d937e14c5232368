using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Tokenization;

namespace Pardec.Benchmarks;

/// <summary>
/// Mask cost under recursive GBNF grammars (issue 18): a document nested deeper and deeper is walked token by token
/// (the longest allowed token that spells the text next, as jump-forward would), and every state's mask is built when
/// the walk reaches it — cold (a new configuration: the per-position caches, or the trie walk, plus the transitions)
/// and warm (the cached mask applied to a row). With and without the per-position caches, on the shipped 4k vocabulary
/// and real 128k/151k ones when tools/fetch-tokenizers.sh has fetched them.
/// <code>dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- grammar-masks [--out benchmarks/results/constrained-recursive-grammar]</code>
/// </summary>
internal static class GrammarMaskBenchmark
{
    public static int Run(string[] args)
    {
        string repo = FindRepo();
        string? outPrefix = args.Length >= 2 && args[0] == "--out" ? args[1] : null;
        var vocabularies = new List<(string Name, TokenVocabulary Vocabulary)>
        {
            ("shipped English (SentencePiece 4096)", TokenVocabulary.From(TextTokenizer.FromSentencePiece(Path.Combine(repo, "models", "english", "target", "tokenizer.model")))),
        };
        foreach (var family in new[] { "llama3_1", "qwen3" })
        {
            string json = Path.Combine(repo, "artifacts", "reference", "tokenizers", family, "tokenizer.json");
            if (File.Exists(json)) vocabularies.Add(($"{family} (byte-level BPE)", TokenVocabulary.From(TextTokenizer.FromTokenizerJson(json))));
            else Console.Error.WriteLine($"skipped {family}: no {json} (tools/fetch-tokenizers.sh)");
        }
        string fixtures = Path.Combine(repo, "tests", "fixtures", "peer-grammar");
        var tasks = new (string Grammar, string Text)[]
        {
            ("grammars/json.gbnf", NestedJson(10)),
            ("schemas/tree.llama.gbnf", Tree(8)),
            ("grammars/sexp.gbnf", Sexp(10)),
        };
        var rows = new List<Dictionary<string, object>>();
        var md = new StringBuilder();
        md.AppendLine("# Mask cost under recursive GBNF grammars").AppendLine();
        md.AppendLine($"CPU: {Machine.Cpu}. One thread. Command: `dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- grammar-masks --out benchmarks/results/constrained-recursive-grammar`.").AppendLine();
        md.AppendLine("Each document is walked token by token (the longest allowed token spelling the text next); every state's mask is built when reached (cold: new configuration, its mask and transitions), then the same states' masks are applied to a row again (warm). \"positions\": masks from per-position caches where few tokens depend on the stack, trie walk otherwise; \"trie\": every mask by the trie walk. Both variants start from a fresh grammar (nothing cached).").AppendLine();
        md.AppendLine("| vocabulary | grammar | tokens | variant | cold µs/token (mean) | cold p50 | cold max | warm µs/row | masks from positions / trie walks |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var (vocabName, vocabulary) in vocabularies)
            foreach (var (grammarFile, text) in tasks)
                foreach (bool positions in new[] { true, false })
                {
                    var grammar = File.ReadAllText(Path.Combine(fixtures, grammarFile));
                    var constraint = TokenConstraint.FromGbnf(grammar, grammarFile);
                    var matcher = new TokenMatcher(constraint.Pushdown!, vocabulary, grammarFile, positionMasks: positions);
                    var (cold, states, tokens) = Walk(matcher, Encoding.UTF8.GetBytes(text));
                    var row = new float[vocabulary.Count];
                    var clock = Stopwatch.StartNew();
                    for (int r = 0; r < 5; r++) foreach (int s in states) matcher.MaskLogits(s, row);
                    double warm = clock.Elapsed.TotalMicroseconds / (5.0 * states.Count);
                    var sorted = cold.Order().ToArray();
                    string variant = positions ? "positions" : "trie";
                    md.AppendLine($"| {vocabName} | `{grammarFile}` | {tokens} | {variant} | {cold.Average():F0} | {sorted[sorted.Length / 2]:F0} | {sorted[^1]:F0} | {warm:F1} | {matcher.PositionMasksBuilt} / {matcher.TrieMasksBuilt} |");
                    rows.Add(new() { ["vocabulary"] = vocabName, ["vocabularySize"] = vocabulary.Count, ["grammar"] = grammarFile, ["tokens"] = tokens, ["variant"] = variant,
                                     ["coldMeanUs"] = cold.Average(), ["coldP50Us"] = sorted[sorted.Length / 2], ["coldMaxUs"] = sorted[^1], ["warmUsPerRow"] = warm,
                                     ["positionMasks"] = matcher.PositionMasksBuilt, ["trieMasks"] = matcher.TrieMasksBuilt });
                    Console.WriteLine($"{vocabName}, {grammarFile}, {variant}: {tokens} tokens, cold {cold.Average():F0} us/token (p50 {sorted[sorted.Length / 2]:F0}, max {sorted[^1]:F0}), warm {warm:F1} us/row, {matcher.PositionMasksBuilt} from positions / {matcher.TrieMasksBuilt} trie");
                }
        if (outPrefix is not null)
        {
            File.WriteAllText(outPrefix + ".md", md.ToString());
            File.WriteAllText(outPrefix + ".json", JsonSerializer.Serialize(new { cpu = Machine.Cpu, rows }, new JsonSerializerOptions { WriteIndented = true }));
        }
        else Console.WriteLine(md);
        return 0;
    }

    // Walks the text with the longest allowed token each step, timing the mask build of every state reached.
    private static (List<double> Cold, List<int> States, int Tokens) Walk(TokenMatcher matcher, byte[] text)
    {
        var cold = new List<double>();
        var states = new List<int>();
        int state = matcher.Start, at = 0, tokens = 0;
        while (at < text.Length)
        {
            long start = Stopwatch.GetTimestamp();
            matcher.AllowedCount(state);
            cold.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
            states.Add(state);
            int token = matcher.LongestTokenPrefix(state, text.AsSpan(at), out int length);
            if (token < 0) throw new InvalidOperationException($"{matcher.Description}: no allowed token spells the text at byte {at}");
            state = matcher.Next(state, token);
            at += length;
            tokens++;
        }
        if (!matcher.IsAccepting(state)) throw new InvalidOperationException($"{matcher.Description}: the document does not match");
        return (cold, states, tokens);
    }

    private static string NestedJson(int depth)
    {
        var sb = new StringBuilder();
        for (int d = 0; d < depth; d++) sb.Append($"{{\"level\": {d}, \"name\": \"node number {d}\", \"items\": [{d}, {d + 1}.5, true, null, ");
        sb.Append("\"leaf\"");
        for (int d = 0; d < depth; d++) sb.Append("]}");
        return sb.ToString();
    }

    private static string Tree(int depth)
    {
        var sb = new StringBuilder();
        for (int d = 0; d < depth; d++) sb.Append($"{{\"name\": \"n{d}\", \"children\": [{{\"name\": \"leaf{d}\", \"children\": []}}, ");
        sb.Append("{\"name\": \"last\", \"children\": []}");
        for (int d = 0; d < depth; d++) sb.Append("]}");
        return sb.ToString();
    }

    private static string Sexp(int depth)
    {
        var sb = new StringBuilder("(define ");
        for (int d = 0; d < depth; d++) sb.Append($"(apply item{(char)('a' + d)} ");
        sb.Append("leaf");
        for (int d = 0; d < depth; d++) sb.Append(" done)");
        sb.Append(')');
        return sb.ToString();
    }

    private static string FindRepo()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
