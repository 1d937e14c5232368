using System.Text;
using System.Text.Json;

namespace Pardec.Server.Http;

/// <summary>
/// Where invalid JSON breaks, as a field path (<c>messages[1].content</c>): <see cref="JsonDocument"/> reports only a
/// line and byte, so the body is read again with a <see cref="Utf8JsonReader"/> that tracks the property and the array
/// index it is in until it fails. Empty when it fails outside any field.
/// </summary>
internal static class JsonErrorPath
{
    public static string Of(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body);
        var frames = new List<Frame>();
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        frames[^1].Property = reader.GetString();
                        break;
                    case JsonTokenType.StartObject:
                    case JsonTokenType.StartArray:
                        frames.Add(new Frame { IsArray = reader.TokenType == JsonTokenType.StartArray });
                        break;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        frames.RemoveAt(frames.Count - 1);
                        ValueDone(frames);
                        break;
                    default:
                        ValueDone(frames);
                        break;
                }
            }
        }
        catch (JsonException) { }
        var path = new StringBuilder();
        foreach (var frame in frames)
        {
            if (frame.IsArray) path.Append('[').Append(frame.Index).Append(']');
            else if (frame.Property is { } name) path.Append(path.Length == 0 ? "" : ".").Append(name);
            else break; // between fields: the path ends at the object
        }
        return path.ToString();
    }

    // A value ended: an array moves to its next index, an object is between properties again.
    private static void ValueDone(List<Frame> frames)
    {
        if (frames.Count == 0) return;
        if (frames[^1].IsArray) frames[^1].Index++;
        else frames[^1].Property = null;
    }

    private sealed class Frame
    {
        public bool IsArray;
        public int Index;
        public string? Property;
    }
}
