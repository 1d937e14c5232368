using Fare;
using Pardec.Dsl.Constraints;

namespace Pardec.Runtime.Constraints;

/// <summary>
/// Compiles a regular expression in the common (ECMAScript / Python <c>re</c>) syntax to a Fare automaton over UTF-8
/// bytes that accepts exactly the strings the pattern matches <em>in full</em>. The syntax is <see cref="RegexParser"/>'s
/// (src/Dsl, shared with the front end, so a pattern <c>pardec check</c> accepts is one this compiles); this class
/// lowers its tree, and Fare does the automaton work (union, concatenation, repetition, determinisation, minimisation).
/// </summary>
public static class RegexCompiler
{
    /// <summary>Most repetitions a bounded quantifier may ask for: a DFA for <c>a{100000}</c> has that many states.</summary>
    public const int MaxRepeat = RegexParser.MaxRepeat;

    /// <exception cref="ConstraintSyntaxException">The pattern is not valid or uses an unsupported construct (with its position).</exception>
    public static Automaton Compile(string pattern)
    {
        RegexNode tree;
        try
        {
            tree = RegexParser.Parse(pattern);
        }
        catch (PatternSyntaxException e)
        {
            throw new ConstraintSyntaxException(ConstraintLanguage.Regex, pattern, e.Position, e.Reason);
        }

        return Lower(tree);
    }

    /// <summary>The byte automaton of a parsed regex.</summary>
    public static Automaton Lower(RegexNode node) => node switch
    {
        RegexSet s => Utf8Automata.Set(s.Set),
        RegexEmpty => BasicAutomata.MakeEmptyString(),
        RegexConcat c => BasicOperations.Concatenate(c.Parts.Select(Lower).ToList()),
        RegexAlternation a => BasicOperations.Union(a.Branches.Select(Lower).ToList()),
        RegexRepeat r => r.Max < 0 ? BasicOperations.Repeat(Lower(r.Item), r.Min) : BasicOperations.Repeat(Lower(r.Item), r.Min, r.Max),
        _ => throw new InvalidOperationException("unknown regex node " + node),
    };
}
