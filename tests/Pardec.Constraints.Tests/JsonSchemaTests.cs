using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using Pardec.Runtime.Constraints;
using Xunit;

namespace Pardec.Constraints.Tests;

public sealed class JsonSchemaTests
{
    public const string Person = """
    {
      "type": "object",
      "properties": {
        "name": { "type": "string", "maxLength": 12 },
        "age": { "type": "integer" },
        "tags": { "type": "array", "items": { "enum": ["a", "b", "c"] }, "maxItems": 3 },
        "address": {
          "type": "object",
          "properties": { "city": { "type": "string" }, "zip": { "type": "string", "pattern": "[0-9]{5}" } },
          "required": ["city"]
        },
        "score": { "type": "number" },
        "active": { "type": "boolean" },
        "nick": { "type": ["string", "null"] }
      },
      "required": ["name", "age"]
    }
    """;

    [Theory]
    [InlineData("""{"name": "Ada", "age": 36}""", true)]
    [InlineData("""{"name":"Ada","age":-3,"tags":["a","c"],"address":{"city":"Paris"},"score":1.5e3,"active":true,"nick":null}""", true)]
    [InlineData("""{"age": 36, "name": "Ada"}""", false)]          // declared order only
    [InlineData("""{"name": "Ada"}""", false)]                       // age is required
    [InlineData("""{"name": "Ada", "age": 3.5}""", false)]           // integer
    [InlineData("""{"name": "Ada", "age": 1, "tags": ["d"]}""", false)]
    [InlineData("""{"name": "Ada", "age": 1, "address": {"zip": "12345"}}""", false)]
    [InlineData("""{"name": "Ada", "age": 1, "address": {"city": "X", "zip": "12345"}}""", true)]
    [InlineData("""{"name": "Ada Lovelace Byron", "age": 1}""", false)] // maxLength 12
    [InlineData("""{"name": "A\"b\\n\u00e9", "age": 1}""", true)]
    public void A_schema_lowers_to_the_json_it_accepts(string json, bool matches)
    {
        var constraint = TokenConstraint.FromJsonSchema(Person);
        Assert.Equal(matches, constraint.Dfa.Matches(json));
    }

    /// <summary>
    /// A fuzz of constrained "decoding" with a random model: from the start state, random allowed tokens of the shipped
    /// vocabulary until the constraint ends. Every output must be JSON that JsonSchema.Net validates against the schema.
    /// </summary>
    [Theory]
    [InlineData(Person)]
    [InlineData("""{"type":"array","items":{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"boolean"}},"required":["x"]},"minItems":1,"maxItems":4}""")]
    [InlineData("""{"$defs":{"p":{"type":"object","properties":{"id":{"type":"string","format":"uuid"}},"required":["id"]}},"type":"object","properties":{"a":{"$ref":"#/$defs/p"},"b":{"anyOf":[{"type":"integer"},{"const":"none"}]}},"required":["a","b"]}""")]
    [InlineData("""{"type":"object","properties":{"when":{"type":"string","format":"date"},"n":{"type":"number"}}}""")]
    [InlineData("""{"$defs":{"n":{"type":"object","properties":{"v":{"type":"integer"},"next":{"$ref":"#/$defs/n"}},"required":["v"]}},"$ref":"#/$defs/n"}""")]
    [InlineData("""{"$defs":{"e":{"type":"object","properties":{"t":{"type":"string","maxLength":3},"sub":{"type":"array","items":{"$ref":"#/$defs/e"},"maxItems":1}},"required":["t"]}},"$ref":"#/$defs/e"}""")]
    public void Random_constrained_walks_produce_schema_valid_json(string schemaText)
    {
        var schema = JsonSchema.FromText(schemaText);
        var matcher = TokenConstraint.FromJsonSchema(schemaText).For(Shipped.Vocabulary);
        var random = new Random(7);
        var vocabulary = Shipped.Vocabulary;
        for (int walk = 0; walk < 40; walk++)
        {
            var state = new ConstraintState(4096);
            state.Start(matcher);
            var tokens = new List<int>();
            while (!state.IsFinished)
            {
                Assert.False(state.IsStuck, "a live state always allows some token on a byte-fallback vocabulary");
                Assert.True(tokens.Count < 3000, "the walk does not end");
                var bits = matcher.AllowedBits(state.Current);
                var allowed = new List<int>();
                for (int w = 0; w < bits.Length; w++)
                    for (ulong word = bits[w]; word != 0; word &= word - 1) allowed.Add(w * 64 + System.Numerics.BitOperations.TrailingZeroCount(word));
                // Prefer ending when allowed, so walks stay short; otherwise any allowed token.
                int token = allowed.Contains(vocabulary.EndTokens[0]) && random.Next(3) > 0 ? vocabulary.EndTokens[0] : allowed[random.Next(allowed.Count)];
                Assert.True(state.Advance(token));
                tokens.Add(token);
            }
            string text = Encoding.UTF8.GetString(vocabulary.Concatenate(tokens));
            var node = JsonNode.Parse(text);
            var result = schema.Evaluate(JsonDocument.Parse(text).RootElement);
            Assert.True(result.IsValid, $"walk {walk}: {text}");
        }
    }

    /// <summary>A schema whose references recurse is a pushdown grammar: any depth, exactly the schema's texts.</summary>
    [Fact]
    public void A_recursive_schema_becomes_a_pushdown_grammar()
    {
        string file = Path.Combine(Shipped.RepoRoot(), "tests", "fixtures", "peer-grammar", "schemas", "tree.json");
        var constraint = TokenConstraint.FromJsonSchema(File.ReadAllText(file), file);
        Assert.False(constraint.IsRegular);
        string Tree(int depth) => depth == 0 ? """{"name": "leaf", "children": []}""" : $$"""{"name": "n{{depth}}", "children": [{{Tree(depth - 1)}}, {"name": "x", "children": []}]}""";
        Assert.True(constraint.Matches(Tree(0)));
        Assert.True(constraint.Matches(Tree(12)));
        Assert.False(constraint.Matches(Tree(12)[..^1]));
        Assert.False(constraint.Matches("""{"name": "a", "children": [{"name": "b"}]}"""));                     // children required
        Assert.False(constraint.Matches("""{"name": "a", "children": [{"name": "b", "children": []}, {"name": "c", "children": []}, {"name": "d", "children": []}, {"name": "e", "children": []}]}""")); // maxItems 3
        Assert.True(TokenConstraint.FromJsonSchema(ConstrainedDecodingTests.SmallSchema).IsRegular);
    }

    [Theory]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "string", "minimum": 3}}}""", "minimum", "\"minimum\"")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "strin"}}}""", "unknown type", "\"type\": \"strin")]
    [InlineData("""{"type": "object", "additionalProperties": true}""", "additionalProperties", "\"additionalProperties\"")]
    [InlineData("""{"$defs": {"n": {"anyOf": [{"$ref": "#/$defs/n"}, {"type": "null"}]}}, "$ref": "#/$defs/n"}""", "'#/$defs/n' is left-recursive", "{\"anyOf\"")]
    public void An_unsupported_keyword_is_an_error_where_it_stands(string schema, string reason, string at)
    {
        int position = schema.IndexOf(at, StringComparison.Ordinal);
        var e = Assert.Throws<ConstraintSyntaxException>(() => TokenConstraint.FromJsonSchema(schema, "schema.json"));
        Assert.Equal(ConstraintLanguage.JsonSchema, e.Language);
        Assert.Contains(reason, e.Message);
        Assert.Equal(position, e.Position);
        Assert.StartsWith("schema.json(1,", e.Message);
    }

    [Fact]
    public void Invalid_json_is_an_error_at_its_line_and_column()
    {
        var e = Assert.Throws<ConstraintSyntaxException>(() => TokenConstraint.FromJsonSchema("{\n  \"type\": \"object\",\n  \"properties\": {,}\n}"));
        Assert.Equal(3, e.Line);
        Assert.Equal(18, e.Column);
    }
}
