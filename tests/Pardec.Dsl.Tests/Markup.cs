using System.Text;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Text;

namespace Pardec.Dsl.Tests;

/// <summary>
/// Inline span markup for expected diagnostics: <c>{|PDEC1003:gamma|}</c> marks "gamma" as the span of
/// a PDEC1003. <c>{|PDEC0003:|}</c> marks a zero-width span.
/// </summary>
public static class Markup
{
    public static (string Text, List<(string Id, TextSpan Span)> Expected) Parse(string markup)
    {
        var text = new StringBuilder();
        var expected = new List<(string, TextSpan)>();
        var open = new Stack<(string Id, int Start)>();
        int i = 0;
        while (i < markup.Length)
        {
            if (markup[i] == '{' && i + 1 < markup.Length && markup[i + 1] == '|')
            {
                int colon = markup.IndexOf(':', i);
                open.Push((markup.Substring(i + 2, colon - i - 2), text.Length));
                i = colon + 1;
            }
            else if (markup[i] == '|' && i + 1 < markup.Length && markup[i + 1] == '}')
            {
                var (id, start) = open.Pop();
                expected.Add((id, TextSpan.FromBounds(start, text.Length)));
                i += 2;
            }
            else
            {
                text.Append(markup[i]);
                i++;
            }
        }

        return (text.ToString(), expected);
    }

    /// <summary>Asserts the diagnostics are exactly the marked ones (id and span), in any order.</summary>
    public static void Verify(string markup, Func<string, IEnumerable<Diagnostic>> run)
    {
        var (text, expected) = Parse(markup);
        var actual = run(text).ToList();
        string Describe(IEnumerable<(string Id, TextSpan Span)> items) =>
            string.Join("\n", items.OrderBy(d => d.Span.Start).ThenBy(d => d.Id)
                .Select(d => $"{d.Id} {d.Span} '{text.Substring(d.Span.Start, d.Span.Length)}'"));

        string want = Describe(expected);
        string got = Describe(actual.Select(d => (d.Id, d.Span)));
        Assert.True(want == got, $"Expected:\n{want}\n\nActual:\n{got}\n\nMessages:\n{string.Join("\n", actual)}");
    }
}
