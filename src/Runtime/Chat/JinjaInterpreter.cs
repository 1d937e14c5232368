using System.Text;

namespace Pardec.Runtime.Chat;

/// <summary>Variables of one block: a for loop or a macro call opens a child scope; if does not (as in Jinja).</summary>
internal sealed class JinjaScope(JinjaScope? parent = null)
{
    private readonly Dictionary<string, object?> _variables = new(StringComparer.Ordinal);

    public JinjaScope? Parent { get; } = parent;

    public void Set(string name, object? value) => _variables[name] = value;

    public object? Lookup(string name)
    {
        for (var scope = this; scope is not null; scope = scope.Parent)
            if (scope._variables.TryGetValue(name, out var value)) return value;
        return JinjaUndefined.Value;
    }
}

/// <summary>
/// Walks the syntax tree and writes the output. Semantics follow @huggingface/jinja (the reference our fixtures come
/// from) where chat templates can observe them: undefined attributes are undefined rather than errors, <c>+</c> with a
/// string concatenates, <c>==</c> is loose, lists and mappings print as JSON. Errors carry the position of the innermost
/// node that failed.
/// </summary>
internal sealed class JinjaInterpreter
{
    private sealed class BreakSignal : Exception;
    private sealed class ContinueSignal : Exception;

    // A macro that calls itself without end would overflow the stack and kill the process; a template error instead.
    private const int MaxCallDepth = 100;

    private readonly JinjaSource _source;
    private int _depth;

    public JinjaInterpreter(JinjaSource source) => _source = source;

    public string Render(IReadOnlyList<JinjaNode> body, JinjaScope scope)
    {
        var output = new StringBuilder();
        ExecuteBlock(body, scope, output);
        return output.ToString();
    }

    private ChatTemplateRenderException Located(JinjaRuntimeError error, JinjaNode node)
    {
        var (line, column) = _source.LineColumn(node.Position);
        return new ChatTemplateRenderException(_source.Name, line, column, error.Message, error.Raised);
    }

    private void ExecuteBlock(IReadOnlyList<JinjaNode> body, JinjaScope scope, StringBuilder output)
    {
        foreach (var node in body) Execute(node, scope, output);
    }

    private void Execute(JinjaNode node, JinjaScope scope, StringBuilder output)
    {
        try
        {
            switch (node)
            {
                case TextSyntax text: output.Append(text.Text); break;
                case CommentSyntax: break;
                case SetSyntax set: ExecuteSet(set, scope); break;
                case IfSyntax @if: ExecuteBlock(JinjaValue.Truthy(Evaluate(@if.Test, scope)) ? @if.Body : @if.Else, scope, output); break;
                case ForSyntax @for: ExecuteFor(@for, scope, output); break;
                case MacroSyntax macro: DefineMacro(macro, scope); break;
                case CallBlockSyntax call: output.Append(JinjaValue.ToOutput(ExecuteCallBlock(call, scope))); break;
                case FilterBlockSyntax filter:
                {
                    var inner = new StringBuilder();
                    ExecuteBlock(filter.Body, scope, inner);
                    output.Append(JinjaValue.ToOutput(ApplyFilter(inner.ToString(), filter.Filter, scope)));
                    break;
                }
                case BreakSyntax: throw new BreakSignal();
                case ContinueSyntax: throw new ContinueSignal();
                default: output.Append(JinjaValue.ToOutput(Evaluate(node, scope))); break;
            }
        }
        catch (JinjaRuntimeError e) { throw Located(e, node); }
    }

    private void ExecuteSet(SetSyntax set, JinjaScope scope)
    {
        object? value;
        if (set.Value is { } expression) value = Evaluate(expression, scope);
        else
        {
            var body = new StringBuilder();
            ExecuteBlock(set.Body, scope, body);
            value = body.ToString();
        }
        switch (set.Target)
        {
            case NameSyntax name: scope.Set(name.Name, value); break;
            case ListSyntax { IsTuple: true } tuple: Unpack(tuple, value, scope, "set"); break;
            case MemberAccessSyntax member:
            {
                if (Evaluate(member.Object, scope) is not JinjaNamespace ns)
                    throw new JinjaRuntimeError("cannot assign an attribute of something that is not a namespace (use ns = namespace(...))");
                if (member.Property is not NameSyntax property) throw new JinjaRuntimeError("cannot assign to a member that is not a name");
                ns[property.Name] = value;
                break;
            }
            default: throw new JinjaRuntimeError("cannot assign to this expression (expected a name, names or ns.attribute)");
        }
    }

    private static void Unpack(ListSyntax targets, object? value, JinjaScope scope, string where)
    {
        if (value is not JinjaList items) throw new JinjaRuntimeError($"cannot unpack a {JinjaValue.TypeName(value)} in {where}");
        if (items.Count != targets.Items.Count)
            throw new JinjaRuntimeError($"too {(targets.Items.Count > items.Count ? "few" : "many")} items to unpack in {where}");
        for (int i = 0; i < items.Count; i++)
        {
            if (targets.Items[i] is not NameSyntax name) throw new JinjaRuntimeError($"cannot unpack into something that is not a name in {where}");
            scope.Set(name.Name, items[i]);
        }
    }

    private void ExecuteFor(ForSyntax @for, JinjaScope outer, StringBuilder output)
    {
        var scope = new JinjaScope(outer);
        JinjaNode? condition = null;
        object? iterable;
        if (@for.Iterable is SelectSyntax select)
        {
            iterable = Evaluate(select.Value, scope);
            condition = select.Condition;
        }
        else iterable = Evaluate(@for.Iterable, scope);

        IReadOnlyList<object?> all = iterable switch
        {
            JinjaList list => list,
            JinjaNamespace => throw new JinjaRuntimeError("a namespace is not iterable"),
            JinjaDict dict => dict.Keys.Cast<object?>().ToList(),
            _ => throw new JinjaRuntimeError($"for expects a list or a mapping, got a {JinjaValue.TypeName(iterable)}"),
        };

        void Bind(JinjaScope target, object? item)
        {
            if (@for.Target is NameSyntax name) target.Set(name.Name, item);
            else Unpack((ListSyntax)@for.Target, item, target, "for");
        }

        var items = new List<object?>(all.Count);
        foreach (var item in all)
        {
            if (condition is not null)
            {
                var test = new JinjaScope(scope);
                Bind(test, item);
                if (!JinjaValue.Truthy(Evaluate(condition, test))) continue;
            }
            items.Add(item);
        }

        bool iterated = false;
        for (int i = 0; i < items.Count; i++)
        {
            var loop = new JinjaDict
            {
                ["index"] = (long)(i + 1),
                ["index0"] = (long)i,
                ["revindex"] = (long)(items.Count - i),
                ["revindex0"] = (long)(items.Count - i - 1),
                ["first"] = i == 0,
                ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count,
                ["previtem"] = i > 0 ? items[i - 1] : JinjaUndefined.Value,
                ["nextitem"] = i < items.Count - 1 ? items[i + 1] : JinjaUndefined.Value,
            };
            scope.Set("loop", loop);
            Bind(scope, items[i]);
            iterated = true;
            try { ExecuteBlock(@for.Body, scope, output); }
            catch (ContinueSignal) { }
            catch (BreakSignal) { break; }
        }
        if (!iterated) ExecuteBlock(@for.Else, scope, output);
    }

    private void DefineMacro(MacroSyntax macro, JinjaScope scope)
    {
        bool usesKwargs = Mentions(macro.Body, "kwargs"), usesVarargs = Mentions(macro.Body, "varargs");
        scope.Set(macro.Name, new JinjaFunction(macro.Name, (args, kwargs, caller) =>
        {
            if (_depth >= MaxCallDepth) throw new JinjaRuntimeError($"macro '{macro.Name}' nests deeper than {MaxCallDepth} calls (endless recursion?)");
            _depth++;
            try
            {
                var local = new JinjaScope(caller);
                BindParameters($"macro '{macro.Name}'", macro.Parameters, usesKwargs, usesVarargs, args, kwargs, local);
                return Render(macro.Body, local);
            }
            finally { _depth--; }
        }));
    }

    private object? ExecuteCallBlock(CallBlockSyntax call, JinjaScope scope)
    {
        bool usesKwargs = Mentions(call.Body, "kwargs"), usesVarargs = Mentions(call.Body, "varargs");
        var callerFunction = new JinjaFunction("caller", (args, kwargs, _) =>
        {
            var local = new JinjaScope(scope);
            BindParameters("the call block", call.CallerParameters, usesKwargs, usesVarargs, args, kwargs, local);
            return Render(call.Body, local);
        });
        var (positional, keywords) = EvaluateArguments(call.Call.Arguments, scope);
        if (Evaluate(call.Call.Callee, scope) is not JinjaFunction function)
            throw new JinjaRuntimeError($"'{(call.Call.Callee as NameSyntax)?.Name}' is not a macro");
        var withCaller = new JinjaScope(scope);
        withCaller.Set("caller", callerFunction);
        return function.Invoke(positional, keywords, withCaller);
    }

    private void BindParameters(string what, IReadOnlyList<JinjaNode> parameters, bool usesKwargs, bool usesVarargs,
                                List<object?> args, JinjaDict kwargs, JinjaScope local)
    {
        var remaining = new JinjaDict();
        foreach (var (k, v) in kwargs) remaining[k] = v;
        var defaults = new List<(string Name, JinjaNode Value)>();
        for (int i = 0; i < parameters.Count; i++)
        {
            var (name, fallback) = parameters[i] switch
            {
                NameSyntax n => (n.Name, (JinjaNode?)null),
                KeywordArgumentSyntax k => (k.Name, k.Value),
                _ => throw new JinjaRuntimeError($"bad parameter in {what}"),
            };
            object? value = i < args.Count ? args[i] : JinjaUndefined.Value;
            if (i >= args.Count && remaining.Remove(name, out var given)) value = given;
            if (value is JinjaUndefined && fallback is not null) defaults.Add((name, fallback));
            local.Set(name, value);
        }
        if (usesKwargs) local.Set("kwargs", remaining);
        else if (remaining.Count > 0) throw new JinjaRuntimeError($"{what} takes no keyword argument '{remaining.GetAt(0).Key}'");
        if (usesVarargs) local.Set("varargs", new JinjaList(args.Skip(parameters.Count)));
        else if (args.Count > parameters.Count) throw new JinjaRuntimeError($"{what} takes not more than {parameters.Count} argument(s)");
        foreach (var (name, value) in defaults) local.Set(name, Evaluate(value, local));
    }

    private static bool Mentions(IEnumerable<JinjaNode> nodes, string name) => nodes.Any(n => Mentions(n, name));

    // Whether a body reads a name (kwargs / varargs make a macro accept extra arguments).
    private static bool Mentions(JinjaNode? node, string name) => node switch
    {
        null => false,
        NameSyntax n => n.Name == name,
        IfSyntax i => Mentions(i.Test, name) || Mentions(i.Body, name) || Mentions(i.Else, name),
        ForSyntax f => Mentions(f.Iterable, name) || Mentions(f.Body, name) || Mentions(f.Else, name),
        SetSyntax s => Mentions(s.Value, name) || Mentions(s.Body, name),
        FilterBlockSyntax f => Mentions(f.Filter, name) || Mentions(f.Body, name),
        CallBlockSyntax c => Mentions(c.Call, name) || Mentions(c.Body, name),
        ListSyntax l => Mentions(l.Items, name),
        DictSyntax d => d.Items.Any(p => Mentions(p.Key, name) || Mentions(p.Value, name)),
        MemberAccessSyntax m => Mentions(m.Object, name) || (m.Computed && Mentions(m.Property, name)),
        SliceSyntax s => Mentions(s.Start, name) || Mentions(s.Stop, name) || Mentions(s.Step, name),
        CallSyntax c => Mentions(c.Callee, name) || Mentions(c.Arguments, name),
        KeywordArgumentSyntax k => Mentions(k.Value, name),
        SpreadSyntax s => Mentions(s.Value, name),
        BinarySyntax b => Mentions(b.Left, name) || Mentions(b.Right, name),
        UnarySyntax u => Mentions(u.Operand, name),
        FilterSyntax f => Mentions(f.Operand, name) || (f.Filter is CallSyntax c && Mentions(c.Arguments, name)),
        TestSyntax t => Mentions(t.Operand, name),
        SelectSyntax s => Mentions(s.Value, name) || Mentions(s.Condition, name),
        TernarySyntax t => Mentions(t.Condition, name) || Mentions(t.WhenTrue, name) || Mentions(t.WhenFalse, name),
        _ => false,
    };

    public object? Evaluate(JinjaNode node, JinjaScope scope)
    {
        try
        {
            return node switch
            {
                LiteralSyntax literal => literal.Value,
                TextSyntax text => text.Text,
                NameSyntax name => scope.Lookup(name.Name),
                ListSyntax list => new JinjaList(list.Items.Select(item => Evaluate(item, scope))),
                DictSyntax dict => EvaluateDict(dict, scope),
                MemberAccessSyntax member => EvaluateMember(member, scope),
                CallSyntax call => EvaluateCall(call, scope),
                BinarySyntax binary => EvaluateBinary(binary, scope),
                UnarySyntax unary => EvaluateUnary(unary, scope),
                FilterSyntax filter => ApplyFilter(Evaluate(filter.Operand, scope), filter.Filter, scope),
                TestSyntax test => JinjaBuiltins.Test(test.Test, Evaluate(test.Operand, scope)) != test.Negate,
                SelectSyntax select => JinjaValue.Truthy(Evaluate(select.Condition, scope)) ? Evaluate(select.Value, scope) : JinjaUndefined.Value,
                TernarySyntax ternary => Evaluate(JinjaValue.Truthy(Evaluate(ternary.Condition, scope)) ? ternary.WhenTrue : ternary.WhenFalse, scope),
                CommentSyntax => null,
                _ => throw new JinjaRuntimeError($"'{Describe(node)}' cannot be used as a value here"),
            };
        }
        catch (JinjaRuntimeError e) { throw Located(e, node); }
    }

    private static string Describe(JinjaNode node) => node switch
    {
        KeywordArgumentSyntax k => k.Name + "=…",
        SpreadSyntax s => s.Keywords ? "**…" : "*…",
        SliceSyntax => "a slice",
        _ => node.GetType().Name.Replace("Syntax", "", StringComparison.Ordinal).ToLowerInvariant(),
    };

    private JinjaDict EvaluateDict(DictSyntax dict, JinjaScope scope)
    {
        var result = new JinjaDict();
        foreach (var (key, value) in dict.Items)
        {
            if (Evaluate(key, scope) is not string k) throw new JinjaRuntimeError("mapping keys must be strings");
            result[k] = Evaluate(value, scope);
        }
        return result;
    }

    /// <summary>Positional arguments first (spreads expanded), then keywords, as Python evaluates them.</summary>
    private (List<object?> Positional, JinjaDict Keywords) EvaluateArguments(IReadOnlyList<JinjaNode> arguments, JinjaScope scope)
    {
        var positional = new List<object?>();
        var keywords = new JinjaDict();
        foreach (var argument in arguments)
        {
            if (argument is SpreadSyntax { Keywords: false } spread)
            {
                if (Evaluate(spread.Value, scope) is not JinjaList items) throw new JinjaRuntimeError("only a list can be unpacked with '*'");
                positional.AddRange(items);
            }
            else if (argument is not (KeywordArgumentSyntax or SpreadSyntax)) positional.Add(Evaluate(argument, scope));
        }
        foreach (var argument in arguments)
        {
            if (argument is KeywordArgumentSyntax keyword)
            {
                if (!keywords.TryAdd(keyword.Name, Evaluate(keyword.Value, scope)))
                    throw new JinjaRuntimeError($"got multiple values for keyword argument '{keyword.Name}'");
            }
            else if (argument is SpreadSyntax { Keywords: true } spread)
            {
                if (Evaluate(spread.Value, scope) is not JinjaDict map || map is JinjaNamespace)
                    throw new JinjaRuntimeError("only a mapping can be unpacked with '**'");
                foreach (var (k, v) in map)
                    if (!keywords.TryAdd(k, v)) throw new JinjaRuntimeError($"got multiple values for keyword argument '{k}'");
            }
        }
        return (positional, keywords);
    }

    private object? EvaluateCall(CallSyntax call, JinjaScope scope)
    {
        var (positional, keywords) = EvaluateArguments(call.Arguments, scope);
        var callee = Evaluate(call.Callee, scope);
        if (callee is JinjaFunction function) return function.Invoke(positional, keywords, scope);
        string what = call.Callee switch
        {
            NameSyntax n => $"'{n.Name}'",
            MemberAccessSyntax { Computed: false, Property: NameSyntax p } => $"'{p.Name}'",
            _ => "the expression",
        };
        throw new JinjaRuntimeError(callee is JinjaUndefined
            ? $"{what} is undefined: no such function or method"
            : $"{what} is a {JinjaValue.TypeName(callee)}, not a function");
    }

    private object? EvaluateMember(MemberAccessSyntax member, JinjaScope scope)
    {
        var target = Evaluate(member.Object, scope);
        object? property;
        if (member.Computed)
        {
            if (member.Property is SliceSyntax slice) return Slice(target, slice, scope);
            property = Evaluate(member.Property, scope);
        }
        else property = member.Property is NameSyntax n ? n.Name : ((LiteralSyntax)member.Property).Value;
        return JinjaBuiltins.Member(target, property);
    }

    private object? Slice(object? target, SliceSyntax slice, JinjaScope scope)
    {
        long? Part(JinjaNode? node, string what)
        {
            if (node is null) return null;
            return Evaluate(node, scope) switch
            {
                long l => l,
                JinjaUndefined => null,
                var other => throw new JinjaRuntimeError($"slice {what} must be an integer, got a {JinjaValue.TypeName(other)}"),
            };
        }
        long? start = Part(slice.Start, "start"), stop = Part(slice.Stop, "stop"), step = Part(slice.Step, "step");
        return target switch
        {
            JinjaList list => new JinjaList(JinjaBuiltins.Slice(list, start, stop, step ?? 1)),
            // By code point, as the reference slices Array.from(string).
            string s => string.Concat(JinjaBuiltins.Slice(JinjaBuiltins.CodePoints(s), start, stop, step ?? 1)),
            _ => throw new JinjaRuntimeError($"only lists and strings can be sliced, not a {JinjaValue.TypeName(target)}"),
        };
    }

    private object? ApplyFilter(object? operand, JinjaNode filter, JinjaScope scope)
    {
        if (filter is NameSyntax name) return JinjaBuiltins.Filter(name.Name, operand, [], new JinjaDict());
        var call = (CallSyntax)filter;
        var (positional, keywords) = EvaluateArguments(call.Arguments, scope);
        return JinjaBuiltins.Filter(((NameSyntax)call.Callee).Name, operand, positional, keywords);
    }

    private object? EvaluateUnary(UnarySyntax unary, JinjaScope scope)
    {
        var operand = Evaluate(unary.Operand, scope);
        if (unary.Operator == "not") return !JinjaValue.Truthy(operand);
        long sign = unary.Operator == "-" ? -1 : 1;
        return operand switch
        {
            long l => (object)(sign * l),
            double d => sign * d,
            bool b => sign * (b ? 1L : 0L),
            _ => throw new JinjaRuntimeError($"unary '{unary.Operator}' needs a number, got a {JinjaValue.TypeName(operand)}"),
        };
    }

    private object? EvaluateBinary(BinarySyntax binary, JinjaScope scope)
    {
        var left = Evaluate(binary.Left, scope);
        switch (binary.Operator)
        {
            case "and": return JinjaValue.Truthy(left) ? Evaluate(binary.Right, scope) : left;
            case "or": return JinjaValue.Truthy(left) ? left : Evaluate(binary.Right, scope);
        }
        var right = Evaluate(binary.Right, scope);
        return JinjaBuiltins.Binary(binary.Operator, left, right);
    }
}
