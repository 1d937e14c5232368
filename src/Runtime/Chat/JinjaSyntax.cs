namespace Pardec.Runtime.Chat;

// The syntax tree of a template. As in @huggingface/jinja, statements and expressions share one base: a template body
// is a list of nodes, and an expression in a body ({{ … }}, or text) is printed. Position: offset in the original text.

internal abstract record JinjaNode(int Position);

internal sealed record TextSyntax(int Position, string Text) : JinjaNode(Position);
internal sealed record CommentSyntax(int Position) : JinjaNode(Position);
internal sealed record IfSyntax(int Position, JinjaNode Test, IReadOnlyList<JinjaNode> Body, IReadOnlyList<JinjaNode> Else) : JinjaNode(Position);
/// <param name="Target">An identifier or a tuple of identifiers.</param>
/// <param name="Iterable">May be a <see cref="SelectSyntax"/>: <c>for x in xs if cond</c>.</param>
internal sealed record ForSyntax(int Position, JinjaNode Target, JinjaNode Iterable, IReadOnlyList<JinjaNode> Body, IReadOnlyList<JinjaNode> Else) : JinjaNode(Position);
/// <param name="Value">Null for a block set (<c>{% set x %}…{% endset %}</c>), whose body is rendered instead.</param>
internal sealed record SetSyntax(int Position, JinjaNode Target, JinjaNode? Value, IReadOnlyList<JinjaNode> Body) : JinjaNode(Position);
internal sealed record MacroSyntax(int Position, string Name, IReadOnlyList<JinjaNode> Parameters, IReadOnlyList<JinjaNode> Body) : JinjaNode(Position);
internal sealed record CallBlockSyntax(int Position, CallSyntax Call, IReadOnlyList<JinjaNode> CallerParameters, IReadOnlyList<JinjaNode> Body) : JinjaNode(Position);
internal sealed record FilterBlockSyntax(int Position, JinjaNode Filter, IReadOnlyList<JinjaNode> Body) : JinjaNode(Position);
internal sealed record BreakSyntax(int Position) : JinjaNode(Position);
internal sealed record ContinueSyntax(int Position) : JinjaNode(Position);

/// <param name="Value">A <see cref="long"/>, <see cref="double"/> or <see cref="string"/>.</param>
internal sealed record LiteralSyntax(int Position, object Value) : JinjaNode(Position);
internal sealed record ListSyntax(int Position, IReadOnlyList<JinjaNode> Items, bool IsTuple) : JinjaNode(Position);
internal sealed record DictSyntax(int Position, IReadOnlyList<(JinjaNode Key, JinjaNode Value)> Items) : JinjaNode(Position);
internal sealed record NameSyntax(int Position, string Name) : JinjaNode(Position);
/// <param name="Computed">True for <c>a[b]</c>, false for <c>a.b</c> (then Property is a name or an integer literal).</param>
internal sealed record MemberAccessSyntax(int Position, JinjaNode Object, JinjaNode Property, bool Computed) : JinjaNode(Position);
internal sealed record SliceSyntax(int Position, JinjaNode? Start, JinjaNode? Stop, JinjaNode? Step) : JinjaNode(Position);
internal sealed record CallSyntax(int Position, JinjaNode Callee, IReadOnlyList<JinjaNode> Arguments) : JinjaNode(Position);
internal sealed record KeywordArgumentSyntax(int Position, string Name, JinjaNode Value) : JinjaNode(Position);
internal sealed record SpreadSyntax(int Position, JinjaNode Value, bool Keywords) : JinjaNode(Position);
/// <param name="Operator">+ - ~ * / // % ** == != &lt; &gt; &lt;= &gt;= and or in "not in"</param>
internal sealed record BinarySyntax(int Position, string Operator, JinjaNode Left, JinjaNode Right) : JinjaNode(Position);
/// <param name="Operator">not, + or -</param>
internal sealed record UnarySyntax(int Position, string Operator, JinjaNode Operand) : JinjaNode(Position);
/// <param name="Filter">A <see cref="NameSyntax"/>, or a <see cref="CallSyntax"/> whose callee is one.</param>
internal sealed record FilterSyntax(int Position, JinjaNode Operand, JinjaNode Filter) : JinjaNode(Position);
internal sealed record TestSyntax(int Position, JinjaNode Operand, bool Negate, string Test) : JinjaNode(Position);
/// <summary><c>a if cond</c> without else: undefined when the condition is false (and the filter of <c>for … if</c>).</summary>
internal sealed record SelectSyntax(int Position, JinjaNode Value, JinjaNode Condition) : JinjaNode(Position);
internal sealed record TernarySyntax(int Position, JinjaNode Condition, JinjaNode WhenTrue, JinjaNode WhenFalse) : JinjaNode(Position);
