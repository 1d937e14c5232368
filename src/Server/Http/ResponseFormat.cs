using System.Text.Json;
using Pardec.Runtime.Constraints;

namespace Pardec.Server.Http;

/// <summary>
/// OpenAI's <c>response_format</c>, read into the constraint the reply must match (docs/serve.md):
/// <c>{"type": "text"}</c> (none), <c>{"type": "json_object"}</c> (a JSON object, nested at most three levels: JSON itself is
/// not regular), <c>{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}</c> (JSON valid under the schema,
/// lowered as docs/constraints.md describes), and two Pardec extensions, <c>{"type": "regex", "regex": "…"}</c> and
/// <c>{"type": "grammar", "grammar": "…"}</c> (GBNF). A schema, pattern or grammar that does not compile is a 400 naming
/// the field and the position inside it.
/// </summary>
internal static class ResponseFormat
{
    private static readonly string[] Types = ["text", "json_object", "json_schema", "regex", "grammar"];

    /// <summary>The constraint <c>response_format</c> asks for over the deployment's vocabulary, or null.</summary>
    public static TokenMatcher? Read(JsonFields fields, Deployment deployment, bool chat)
    {
        if (!fields.TryGet("response_format", out var element)) return null;
        var format = new JsonFields(element, "response_format");
        string type = format.RequiredString("type");
        (string Key, string Field, Func<TokenConstraint> Compile) asked;
        switch (type)
        {
            case "text":
                return null;
            case "json_object":
                asked = ("json_object", "response_format", () => TokenConstraint.AnyJson());
                break;
            case "json_schema":
            {
                if (!format.TryGet("json_schema", out var js)) throw ApiException.Invalid("response_format.json_schema", "'response_format.json_schema' is required when 'response_format.type' is 'json_schema'.");
                var jsonSchema = new JsonFields(js, "response_format.json_schema");
                if (!jsonSchema.TryGet("schema", out var schema))
                    throw ApiException.Invalid("response_format.json_schema.schema", "'response_format.json_schema.schema' is required: the JSON Schema the reply must be valid under.");
                if (schema.ValueKind is not (JsonValueKind.Object or JsonValueKind.True))
                    throw jsonSchema.Expected("schema", "a JSON Schema object", schema);
                jsonSchema.OptionalString("name");
                jsonSchema.OptionalBool("strict");
                string text = schema.ValueKind == JsonValueKind.True ? "{}" : schema.GetRawText();
                asked = ("schema:" + text, "response_format.json_schema.schema", () => TokenConstraint.FromJsonSchema(text));
                break;
            }
            case "regex":
            {
                string pattern = format.RequiredString("regex");
                asked = ("regex:" + pattern, "response_format.regex", () => TokenConstraint.FromRegex(pattern));
                break;
            }
            case "grammar":
            {
                string grammar = format.RequiredString("grammar");
                asked = ("gbnf:" + grammar, "response_format.grammar", () => TokenConstraint.FromGbnf(grammar));
                break;
            }
            default:
                throw ApiException.Invalid("response_format.type", $"'response_format.type' must be one of {string.Join(", ", Types)}; got '{type}'.");
        }
        try
        {
            var matcher = deployment.Constraint(asked.Key, chat, asked.Compile);
            if (!matcher.IsRegular && deployment.Plan.Step is Dsl.Plan.MaskedStepPlan)
                throw ApiException.Invalid(asked.Field, $"'{asked.Field}' is a recursive grammar; deployment '{deployment.Name}' decodes a masked (diffusion) canvas, which takes regular constraints only (regex, JSON Schema, non-recursive GBNF).");
            return matcher;
        }
        catch (ConstraintSyntaxException e)
        {
            throw ApiException.Invalid(asked.Field, $"'{asked.Field}' cannot be used: {e.Message}");
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw ApiException.Invalid(asked.Field, $"'{asked.Field}' cannot be used: {e.Message}");
        }
    }
}
