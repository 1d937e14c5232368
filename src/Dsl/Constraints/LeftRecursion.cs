using System.Collections.Generic;
using System.Linq;

namespace Pardec.Dsl.Constraints;

/// <summary>
/// Left recursion in a context-free constraint: a rule that can reach a call of itself before reading any text. The
/// runtime's pushdown matcher cannot expand such a rule (the expansion never ends), so the front end reports it at
/// build time, as the runtime would when the decoder is built.
/// </summary>
public static class LeftRecursion
{
    /// <summary>The first left-recursive cycle of a GBNF grammar reachable from <c>root</c>, or null.</summary>
    public static GbnfCycle? Find(GbnfSyntax grammar)
    {
        var rules = grammar.Rules.GroupBy(r => r.Name).ToDictionary(g => g.Key, g => g.First().Body);
        var nullable = new HashSet<string>();
        for (bool changed = true; changed;)
        {
            changed = false;
            foreach (var rule in rules)
            {
                if (!nullable.Contains(rule.Key) && Nullable(rule.Value, nullable))
                {
                    changed = nullable.Add(rule.Key);
                }
            }
        }

        var edges = rules.ToDictionary(r => r.Key, r => Leftmost(r.Value, nullable).ToList());
        return Cycle("root", edges);
    }

    /// <summary>
    /// The first left-recursive cycle among a recursive JSON Schema's rules (regexes in which the character
    /// <c>marks[k]</c> is a call of rule k + 1), or null. <paramref name="names"/> name the rules for the message.
    /// </summary>
    public static GbnfCycle? Find(IReadOnlyList<(string Name, int Position, RegexNode Body)> rules, IReadOnlyList<char> marks)
    {
        var byMark = new Dictionary<int, string>();
        for (int k = 0; k + 1 < rules.Count && k < marks.Count; k++)
        {
            byMark[marks[k]] = rules[k + 1].Name;
        }

        var nullable = new HashSet<string>();
        for (bool changed = true; changed;)
        {
            changed = false;
            foreach (var rule in rules)
            {
                if (!nullable.Contains(rule.Name) && Nullable(rule.Body, nullable, byMark))
                {
                    changed = nullable.Add(rule.Name);
                }
            }
        }

        var edges = rules.ToDictionary(r => r.Name, r => Leftmost(r.Body, nullable, byMark).Select(c => new GbnfRuleRef(r.Position, c)).ToList());
        return Cycle(rules[0].Name, edges);
    }

    private static GbnfCycle? Cycle(string start, Dictionary<string, List<GbnfRuleRef>> edges)
    {
        var path = new List<string>();
        var done = new HashSet<string>();
        GbnfCycle? Visit(string name)
        {
            path.Add(name);
            foreach (var reference in edges.TryGetValue(name, out var next) ? next : new List<GbnfRuleRef>())
            {
                int at = path.IndexOf(reference.Name);
                if (at >= 0)
                {
                    return new GbnfCycle(reference.Name, reference.Position, path.Skip(at).Concat(new[] { reference.Name }).ToList());
                }

                if (!done.Contains(reference.Name) && Visit(reference.Name) is { } cycle)
                {
                    return cycle;
                }
            }

            path.RemoveAt(path.Count - 1);
            done.Add(name);
            return null;
        }

        return Visit(start);
    }

    private static bool Nullable(GbnfNode node, HashSet<string> nullable) => node switch
    {
        GbnfLiteral l => l.Text.Length == 0,
        GbnfCharacters => false,
        GbnfRuleRef r => nullable.Contains(r.Name),
        GbnfSequence s => s.Items.All(i => Nullable(i, nullable)),
        GbnfAlternatives a => a.Options.Any(o => Nullable(o, nullable)),
        GbnfRepeat r => r.Min == 0 || Nullable(r.Item, nullable),
        _ => false,
    };

    private static IEnumerable<GbnfRuleRef> Leftmost(GbnfNode node, HashSet<string> nullable)
    {
        switch (node)
        {
            case GbnfRuleRef r:
                yield return r;
                break;
            case GbnfSequence s:
                foreach (var item in s.Items)
                {
                    foreach (var r in Leftmost(item, nullable))
                    {
                        yield return r;
                    }

                    if (!Nullable(item, nullable))
                    {
                        yield break;
                    }
                }

                break;
            case GbnfAlternatives a:
                foreach (var r in a.Options.SelectMany(o => Leftmost(o, nullable)))
                {
                    yield return r;
                }

                break;
            case GbnfRepeat rep:
                foreach (var r in Leftmost(rep.Item, nullable))
                {
                    yield return r;
                }

                break;
        }
    }

    private static string? Call(RegexNode node, Dictionary<int, string> byMark) =>
        node is RegexSet { Set.Ranges: { Count: 1 } ranges } && ranges[0].Lo == ranges[0].Hi && byMark.TryGetValue(ranges[0].Lo, out var name) ? name : null;

    private static bool Nullable(RegexNode node, HashSet<string> nullable, Dictionary<int, string> byMark) => node switch
    {
        RegexEmpty => true,
        RegexSet => Call(node, byMark) is { } call && nullable.Contains(call),
        RegexConcat c => c.Parts.All(p => Nullable(p, nullable, byMark)),
        RegexAlternation a => a.Branches.Any(b => Nullable(b, nullable, byMark)),
        RegexRepeat r => r.Min == 0 || Nullable(r.Item, nullable, byMark),
        _ => false,
    };

    private static IEnumerable<string> Leftmost(RegexNode node, HashSet<string> nullable, Dictionary<int, string> byMark)
    {
        switch (node)
        {
            case RegexSet when Call(node, byMark) is { } call:
                yield return call;
                break;
            case RegexConcat c:
                foreach (var part in c.Parts)
                {
                    foreach (var r in Leftmost(part, nullable, byMark))
                    {
                        yield return r;
                    }

                    if (!Nullable(part, nullable, byMark))
                    {
                        yield break;
                    }
                }

                break;
            case RegexAlternation a:
                foreach (var r in a.Branches.SelectMany(b => Leftmost(b, nullable, byMark)))
                {
                    yield return r;
                }

                break;
            case RegexRepeat rep:
                foreach (var r in Leftmost(rep.Item, nullable, byMark))
                {
                    yield return r;
                }

                break;
        }
    }
}
