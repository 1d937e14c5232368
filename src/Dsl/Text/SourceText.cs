using System;
using System.Collections.Generic;

namespace Pardec.Dsl.Text;

/// <summary>The text of one .pdec file with its path and a line map for line/column reporting.</summary>
public sealed class SourceText
{
    private readonly int[] _lineStarts;

    private SourceText(string text, string path)
    {
        Text = text;
        Path = path;
        _lineStarts = ComputeLineStarts(text);
    }

    public string Text { get; }

    public string Path { get; }

    public int Length => Text.Length;

    public char this[int index] => Text[index];

    public int LineCount => _lineStarts.Length;

    public static SourceText From(string text, string path = "") => new(text ?? string.Empty, path ?? string.Empty);

    public int GetLineIndex(int position)
    {
        int index = Array.BinarySearch(_lineStarts, position);
        return index >= 0 ? index : ~index - 1;
    }

    public LinePosition GetLinePosition(int position)
    {
        position = Math.Max(0, Math.Min(position, Text.Length));
        int line = GetLineIndex(position);
        return new LinePosition(line, position - _lineStarts[line]);
    }

    public int GetLineStart(int line) => _lineStarts[line];

    public string ToString(TextSpan span) => Text.Substring(span.Start, span.Length);

    public override string ToString() => Text;

    private static int[] ComputeLineStarts(string text)
    {
        var starts = new List<int> { 0 };
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
            {
                i++;
            }

            if (c == '\n' || c == '\r')
            {
                starts.Add(i + 1);
            }
        }

        return starts.ToArray();
    }
}
