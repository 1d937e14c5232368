using Microsoft.CodeAnalysis;

namespace Pardec.Generators.Tests;

/// <summary>
/// A strategy's constraint files are AdditionalFiles: the generator compiles the .pdec against their texts, embeds them
/// in the decoder, and reports an error inside one at its line and column in that file.
/// </summary>
public class ConstraintFileTests
{
    private const string Strategy = """
        strategy Person
          guarantee lossless
          canvas causal
          constrain json(schema: "person.json")
          model target: causal
          step
            propose forced(length: 4)
            verify target
            accept greedy
        end
        """;

    [Fact]
    public void A_schema_next_to_the_pdec_is_read_embedded_and_compiles_with_no_problems()
    {
        const string schema = """{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}""";
        var (output, result, _) = GeneratorHarness.Run(new AdditionalText[] { new InMemoryText("app/s.pdec", Strategy), new InMemoryText("app/person.json", schema) });
        Assert.Empty(GeneratorHarness.Problems(output, result));
        string source = GeneratorHarness.Generated(result, "PersonDecoder.g.cs");
        Assert.Contains("global::Pardec.Runtime.Constraints.TokenVocabulary vocabulary", source);
        Assert.Contains("new global::Pardec.Runtime.Constraints.JsonSchemaConstraint(schema: @\"" + schema.Replace("\"", "\"\"") + "\"", source);
        Assert.Contains("options = _constraint.Apply(options);", source);
    }

    [Fact]
    public void An_error_inside_the_schema_is_reported_in_the_schema_file_and_a_missing_one_in_the_pdec()
    {
        var (_, result, _) = GeneratorHarness.Run(new AdditionalText[] { new InMemoryText("app/s.pdec", Strategy), new InMemoryText("app/person.json", "{\n  \"type\": \"object\",\n  \"propertys\": {}\n}") });
        var d = Assert.Single(result.Diagnostics, x => x.Id == "PDEC1050");
        var span = d.Location.GetLineSpan();
        Assert.Equal(("app/person.json", 2, 2), (span.Path, span.StartLinePosition.Line, span.StartLinePosition.Character));

        var (_, missing, _) = GeneratorHarness.Run(new AdditionalText[] { new InMemoryText("app/s.pdec", Strategy) });
        var m = Assert.Single(missing.Diagnostics, x => x.Id == "PDEC1051");
        Assert.Equal("app/s.pdec", m.Location.GetLineSpan().Path);
    }
}
