using System;
using System.Collections.Generic;

namespace Pardec.Dsl.Diagnostics;

/// <summary>"Did you mean" for unknown names: the closest choice by edit distance, if close enough.</summary>
public static class NameSuggester
{
    public static string? Nearest(string name, IEnumerable<string> choices)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string choice in choices)
        {
            int distance = Distance(name.ToLowerInvariant(), choice.ToLowerInvariant());
            if (distance < bestDistance)
            {
                best = choice;
                bestDistance = distance;
            }
        }

        int allowed = Math.Max(2, name.Length / 3);
        return bestDistance <= allowed && bestDistance > 0 ? best : null;
    }

    /// <summary>"; did you mean 'x'?" or an empty string.</summary>
    public static string Hint(string name, IEnumerable<string> choices)
    {
        string? nearest = Nearest(name, choices);
        return nearest is null ? string.Empty : $"; did you mean '{nearest}'?";
    }

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
