using System.Text;
using System.Text.Json;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Strategies;
using Xunit;
using Xunit.Abstractions;

namespace Pardec.Constraints.Tests;

/// <summary>
/// The cross-check against llama.cpp (issue 18, "Proved by"): llama.cpp's grammar sampler decoded the shipped English
/// target (an f32 GGUF by its own converter) greedily under every grammar of tests/fixtures/peer-grammar — regular and
/// recursive GBNF, and JSON Schemas converted to GBNF by llama.cpp's json_schema_to_grammar — from prompt ids its own
/// tokenizer made (benchmarks/peer/make-grammar-fixtures.py). Pardec's constrained greedy, reading the same grammar
/// files, must produce the same tokens and stop the same way, and allow as many tokens as llama.cpp at every step of
/// its path. CI needs none of llama.cpp.
/// </summary>
public sealed class GrammarCrossCheckTests(ShippedModels models, ITestOutputHelper output) : IClassFixture<ShippedModels>
{
    private static string Fixtures => Path.Combine(Shipped.RepoRoot(), "tests", "fixtures", "peer-grammar");

    [Fact]
    public void Constrained_greedy_equals_llama_cpp_under_every_committed_grammar()
    {
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "reference.json")));
        var root = reference.RootElement;
        int newTokens = root.GetProperty("new_tokens").GetInt32();
        var prompts = root.GetProperty("prompts").EnumerateArray().Select(p => p.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()).ToArray();
        using var greedy = GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models.Set, null, 256);
        var vocabulary = Shipped.Vocabulary;
        var failures = new List<string>();
        int cases = 0, recursive = 0, regular = 0, tokens = 0, masks = 0, notText = 0;
        foreach (var @case in root.GetProperty("cases").EnumerateArray())
        {
            string file = @case.GetProperty("grammar").GetString()!;
            var constraint = TokenConstraint.FromGbnf(File.ReadAllText(Path.Combine(Fixtures, file)), file);
            if (constraint.IsRegular) regular++; else recursive++;
            var matcher = constraint.For(vocabulary);
            int p = 0;
            foreach (var result in @case.GetProperty("results").EnumerateArray())
            {
                var expected = result.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
                string stop = result.GetProperty("stop").GetString()!;
                var decoded = greedy.Generate(prompts[p], new GenerationOptions { MaxNewTokens = newTokens, Constraint = matcher });
                // llama.cpp keeps the end-of-generation token it picked; Pardec's result leaves it out.
                var ours = decoded.Tokens.ToArray();
                var theirs = stop == "eog" ? expected[..^1] : expected;
                string expectedStop = stop switch { "eog" => nameof(StopReason.EndOfSequence), "max" => nameof(StopReason.MaxNewTokens), _ => nameof(StopReason.Unsatisfiable) };
                string text = Encoding.UTF8.GetString(vocabulary.Concatenate(ours));
                output.WriteLine($"{file}, prompt {p}: {decoded.StopReason}, {ours.Length} tokens: {text.Replace("\n", "\\n")}");
                if (!ours.SequenceEqual(theirs) || decoded.StopReason.ToString() != expectedStop)
                {
                    int at = Enumerable.Range(0, Math.Min(ours.Length, theirs.Length)).FirstOrDefault(k => ours[k] != theirs[k], Math.Min(ours.Length, theirs.Length));
                    string top = at < expected.Length ? result.GetProperty("top2")[at].ToString() : "-";
                    failures.Add($"{file}, prompt {p}: differs at token {at} (Pardec {(at < ours.Length ? ours[at] : -1)}, llama.cpp {(at < theirs.Length ? theirs[at] : -1)}, llama.cpp's masked top 2 there {top}); " +
                                 $"stop {decoded.StopReason} vs {stop}; llama.cpp wrote: {Encoding.UTF8.GetString(vocabulary.Concatenate(theirs)).Replace("\n", "\\n")}");
                }
                // The masks along llama.cpp's path: how many tokens each engine allows at every step, over the tokens both
                // read as UTF-8 text. llama.cpp also allows, where a negated class is open, the control tokens <s> <pad>
                // <unk> (their piece text) and the bytes 0xF5-0xFF (no UTF-8 has them): "allowed" counts those too.
                var allowed = result.GetProperty("allowed_text").EnumerateArray().Select(a => a.GetInt32()).ToArray();
                var allowedAll = result.GetProperty("allowed").EnumerateArray().Select(a => a.GetInt32()).ToArray();
                int state = matcher.Start;
                for (int k = 0; k < allowed.Length && state >= 0; k++)
                {
                    if (matcher.AllowedCount(state) != allowed[k])
                    {
                        failures.Add($"{file}, prompt {p}: step {k} allows {matcher.AllowedCount(state)} tokens, llama.cpp {allowed[k]} text tokens");
                        break;
                    }
                    notText = Math.Max(notText, allowedAll[k] - allowed[k]);
                    if (k < expected.Length) state = matcher.Next(state, expected[k]);
                }
                masks += allowed.Length;
                tokens += ours.Length;
                cases++;
                p++;
            }
        }
        output.WriteLine($"{cases} decodes ({regular} regular and {recursive} recursive grammars), {tokens} tokens, {masks} mask sizes compared; llama.cpp also allowed up to {notText} non-text tokens at a step");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(recursive >= 4 && regular >= 3 && cases >= 20);
    }

    /// <summary>
    /// Not the same algorithm, so not asserted: Pardec's own JSON Schema lowering (<see cref="TokenConstraint.FromJsonSchema"/>,
    /// with llama.cpp's whitespace rule) against llama.cpp's json_schema_to_grammar on the committed schemas. Prints where
    /// the two decodes part (benchmarks/peer/README.md says why they do); the schema's regular lowering must still be
    /// satisfied by what it decodes.
    /// </summary>
    [Fact]
    public void Pardec_own_schema_lowering_against_llama_cpp_is_reported()
    {
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "reference.json")));
        var root = reference.RootElement;
        int newTokens = root.GetProperty("new_tokens").GetInt32();
        var prompts = root.GetProperty("prompts").EnumerateArray().Select(p => p.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()).ToArray();
        using var greedy = GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models.Set, null, 256);
        var llamaSpace = new JsonSchemaRegexOptions { Whitespace = "( |\n{1,2}[ \t]{0,20})?" };
        foreach (var @case in root.GetProperty("cases").EnumerateArray())
        {
            string file = @case.GetProperty("grammar").GetString()!;
            if (!file.EndsWith(".llama.gbnf", StringComparison.Ordinal)) continue;
            string schemaFile = Path.Combine(Fixtures, file.Replace(".llama.gbnf", ".json"));
            TokenConstraint constraint;
            try { constraint = TokenConstraint.FromJsonSchema(File.ReadAllText(schemaFile), schemaFile, llamaSpace); }
            catch (ConstraintSyntaxException e) { output.WriteLine($"{file}: Pardec's lowering refuses the schema: {e.Reason}"); continue; }
            int p = 0;
            foreach (var result in @case.GetProperty("results").EnumerateArray())
            {
                var theirs = result.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
                var ours = greedy.Generate(prompts[p], new GenerationOptions { MaxNewTokens = newTokens, Constraint = constraint.For(Shipped.Vocabulary) }).Tokens.ToArray();
                int same = Enumerable.Range(0, Math.Min(ours.Length, theirs.Length)).TakeWhile(k => ours[k] == theirs[k]).Count();
                output.WriteLine($"{file}, prompt {p}: the first {same} of {theirs.Length} tokens agree; Pardec's lowering wrote " +
                                 Encoding.UTF8.GetString(Shipped.Vocabulary.Concatenate(ours)).Replace("\n", "\\n"));
                p++;
            }
        }
    }
}
