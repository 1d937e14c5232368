using System.Globalization;

namespace Pardec.Runtime.Chat;

/// <summary>
/// Recursive descent over the tokens, with @huggingface/jinja's grammar and precedence (lowest first): ternary
/// <c>a if c else b</c>, <c>or</c>, <c>and</c>, <c>not</c>, comparisons and <c>in</c>, <c>+ - ~</c>, <c>* / // %</c>,
/// <c>**</c>, <c>is</c> tests, <c>|</c> filters, unary signs, then calls, members and literals. The first error stops
/// the parse with its line and column (a chat template is loaded once; there is nothing to recover for).
/// </summary>
internal sealed class JinjaParser
{
    private readonly JinjaSource _source;
    private readonly List<JinjaToken> _tokens;
    private int _current;

    private JinjaParser(JinjaSource source, List<JinjaToken> tokens)
    {
        _source = source;
        _tokens = tokens;
    }

    public static IReadOnlyList<JinjaNode> Parse(JinjaSource source)
    {
        var parser = new JinjaParser(source, JinjaLexer.Tokenize(source));
        var body = new List<JinjaNode>();
        while (parser._current < parser._tokens.Count) body.Add(parser.ParseAny());
        return body;
    }

    private JinjaToken? Peek(int ahead = 0) => _current + ahead < _tokens.Count ? _tokens[_current + ahead] : null;
    private bool Is(JinjaTokenKind kind) => Peek() is { } t && t.Kind == kind;
    private bool IsName(string name) => Peek() is { Kind: JinjaTokenKind.Identifier } t && t.Value == name;
    private bool IsNames(string first, string second) => IsName(first) && Peek(1) is { Kind: JinjaTokenKind.Identifier } t && t.Value == second;
    private bool IsStatement(params string[] names) =>
        Peek() is { Kind: JinjaTokenKind.OpenStatement } && Peek(1) is { Kind: JinjaTokenKind.Identifier } t && names.Contains(t.Value);

    private ChatTemplateSyntaxException Error(string message, JinjaToken? at = null)
    {
        int position = (at ?? Peek())?.Position ?? (_tokens.Count > 0 ? _tokens[^1].Position : 0);
        var (line, column) = _source.LineColumn(position);
        return new ChatTemplateSyntaxException(_source.Name, line, column, message);
    }

    private JinjaToken Next(string what) => Peek() is { } t ? _tokens[_current++] : throw Error($"unexpected end of template: expected {what}");

    private JinjaToken Expect(JinjaTokenKind kind, string what)
    {
        var token = Peek() ?? throw Error($"unexpected end of template: expected {what}");
        if (token.Kind != kind) throw Error($"expected {what}, found {Describe(token)}", token);
        _current++;
        return token;
    }

    private void ExpectName(string name)
    {
        if (!IsName(name)) throw Peek() is { } t ? Error($"expected '{name}', found {Describe(t)}", t) : Error($"unexpected end of template: expected '{name}'");
        _current++;
    }

    private static string Describe(JinjaToken token) => token.Kind switch
    {
        JinjaTokenKind.Text => "text",
        JinjaTokenKind.StringLiteral => "a string",
        JinjaTokenKind.Comment => "a comment",
        _ => $"'{token.Value}'",
    };

    /// <summary>A body until one of the <paramref name="ends"/> statements; missing ends name the block that is open.</summary>
    private List<JinjaNode> ParseBody(JinjaToken opened, string block, params string[] ends)
    {
        var body = new List<JinjaNode>();
        while (!IsStatement(ends))
        {
            if (_current >= _tokens.Count)
                throw Error($"'{block}' is not closed: expected {string.Join(" or ", ends.Select(e => "{% " + e + " %}"))}", opened);
            body.Add(ParseAny());
        }
        return body;
    }

    private JinjaNode ParseAny()
    {
        var token = _tokens[_current];
        switch (token.Kind)
        {
            case JinjaTokenKind.Comment: _current++; return new CommentSyntax(token.Position);
            case JinjaTokenKind.Text: _current++; return new TextSyntax(token.Position, token.Value);
            case JinjaTokenKind.OpenStatement: return ParseStatement();
            case JinjaTokenKind.OpenExpression:
                _current++;
                var expression = ParseExpression();
                Expect(JinjaTokenKind.CloseExpression, "'}}'");
                return expression;
            default: throw Error($"unexpected {Describe(token)}", token);
        }
    }

    private JinjaNode ParseStatement()
    {
        var open = Expect(JinjaTokenKind.OpenStatement, "'{%'");
        var keyword = Peek() is { Kind: JinjaTokenKind.Identifier } k ? k : throw Error("expected a statement name after '{%'");
        _current++;
        JinjaNode result;
        switch (keyword.Value)
        {
            case "set":
                result = ParseSet(keyword);
                break;
            case "if":
                result = ParseIf(keyword);
                Expect(JinjaTokenKind.OpenStatement, "'{%'");
                ExpectName("endif");
                Expect(JinjaTokenKind.CloseStatement, "'%}'");
                break;
            case "macro":
            {
                var name = Next("a macro name");
                if (name.Kind != JinjaTokenKind.Identifier) throw Error("expected a macro name", name);
                var parameters = ParseArguments(parameters: true);
                Expect(JinjaTokenKind.CloseStatement, "'%}'");
                var body = ParseBody(keyword, "macro", "endmacro");
                result = new MacroSyntax(keyword.Position, name.Value, parameters, body);
                Expect(JinjaTokenKind.OpenStatement, "'{%'");
                ExpectName("endmacro");
                Expect(JinjaTokenKind.CloseStatement, "'%}'");
                break;
            }
            case "for":
                result = ParseFor(keyword);
                Expect(JinjaTokenKind.OpenStatement, "'{%'");
                ExpectName("endfor");
                Expect(JinjaTokenKind.CloseStatement, "'%}'");
                break;
            case "call":
            {
                IReadOnlyList<JinjaNode> callerParameters = Is(JinjaTokenKind.OpenParen) ? ParseArguments(parameters: true) : [];
                var callee = ParsePrimary();
                if (callee is not NameSyntax) throw Error("expected a macro name after 'call'", keyword);
                var arguments = ParseArguments(parameters: false);
                Expect(JinjaTokenKind.CloseStatement, "'%}'");
                var body = ParseBody(keyword, "call", "endcall");
                Expect(JinjaTokenKind.OpenStatement, "'{%'");
                ExpectName("endcall");
                Expect(JinjaTokenKind.CloseStatement, "'%}'");
                result = new CallBlockSyntax(keyword.Position, new CallSyntax(callee.Position, callee, arguments), callerParameters, body);
                break;
            }
            case "break":
                Expect(JinjaTokenKind.CloseStatement, "'%}'");
                result = new BreakSyntax(keyword.Position);
                break;
            case "continue":
                Expect(JinjaTokenKind.CloseStatement, "'%}'");
                result = new ContinueSyntax(keyword.Position);
                break;
            case "filter":
            {
                var filter = ParsePrimary();
                if (filter is NameSyntax && Is(JinjaTokenKind.OpenParen)) filter = ParseCall(filter);
                Expect(JinjaTokenKind.CloseStatement, "'%}'");
                var body = ParseBody(keyword, "filter", "endfilter");
                Expect(JinjaTokenKind.OpenStatement, "'{%'");
                ExpectName("endfilter");
                Expect(JinjaTokenKind.CloseStatement, "'%}'");
                result = new FilterBlockSyntax(keyword.Position, filter, body);
                break;
            }
            default:
                throw Error($"unknown statement '{keyword.Value}' (expected set, if, for, macro, call, filter, break or continue"
                            + (keyword.Value.StartsWith("end", StringComparison.Ordinal) || keyword.Value is "elif" or "else" ? ", and this one closes nothing that is open)" : ")"), keyword);
        }
        _ = open;
        return result;
    }

    private JinjaNode ParseSet(JinjaToken keyword)
    {
        var target = ParseSequence(primary: false);
        if (Is(JinjaTokenKind.Equals))
        {
            _current++;
            var value = ParseSequence(primary: false);
            Expect(JinjaTokenKind.CloseStatement, "'%}'");
            return new SetSyntax(keyword.Position, target, value, []);
        }
        Expect(JinjaTokenKind.CloseStatement, "'=' or '%}'");
        var body = ParseBody(keyword, "set", "endset");
        Expect(JinjaTokenKind.OpenStatement, "'{%'");
        ExpectName("endset");
        Expect(JinjaTokenKind.CloseStatement, "'%}'");
        return new SetSyntax(keyword.Position, target, null, body);
    }

    private IfSyntax ParseIf(JinjaToken keyword)
    {
        var test = ParseExpression();
        Expect(JinjaTokenKind.CloseStatement, "'%}'");
        var body = ParseBody(keyword, "if", "elif", "else", "endif");
        var otherwise = new List<JinjaNode>();
        if (IsStatement("elif"))
        {
            _current++;
            var elif = _tokens[_current++];
            otherwise.Add(ParseIf(elif));
        }
        else if (IsStatement("else"))
        {
            _current += 2;
            Expect(JinjaTokenKind.CloseStatement, "'%}'");
            otherwise.AddRange(ParseBody(keyword, "if", "endif"));
        }
        return new IfSyntax(keyword.Position, test, body, otherwise);
    }

    private ForSyntax ParseFor(JinjaToken keyword)
    {
        var target = ParseSequence(primary: true);
        if (target is not (NameSyntax or ListSyntax { IsTuple: true }))
            throw Error("expected a name or names (a, b) for the loop variable", keyword);
        if (!IsName("in")) throw Peek() is { } t ? Error($"expected 'in' after the loop variable, found {Describe(t)}", t) : Error("unexpected end of template: expected 'in'");
        _current++;
        var iterable = ParseExpression();
        Expect(JinjaTokenKind.CloseStatement, "'%}'");
        var body = ParseBody(keyword, "for", "endfor", "else");
        var otherwise = new List<JinjaNode>();
        if (IsStatement("else"))
        {
            _current += 2;
            Expect(JinjaTokenKind.CloseStatement, "'%}'");
            otherwise.AddRange(ParseBody(keyword, "for", "endfor"));
        }
        return new ForSyntax(keyword.Position, target, iterable, body, otherwise);
    }

    private JinjaNode ParseSequence(bool primary)
    {
        var first = primary ? ParsePrimary() : ParseExpression();
        if (!Is(JinjaTokenKind.Comma)) return first;
        var items = new List<JinjaNode> { first };
        while (Is(JinjaTokenKind.Comma))
        {
            _current++;
            items.Add(primary ? ParsePrimary() : ParseExpression());
        }
        return new ListSyntax(first.Position, items, IsTuple: true);
    }

    private JinjaNode ParseExpression() => ParseTernary();

    private JinjaNode ParseTernary()
    {
        var value = ParseOr();
        if (!IsName("if")) return value;
        _current++;
        var condition = ParseOr();
        if (!IsName("else")) return new SelectSyntax(value.Position, value, condition);
        _current++;
        return new TernarySyntax(value.Position, condition, value, ParseTernary());
    }

    private JinjaNode ParseOr()
    {
        var left = ParseAnd();
        while (IsName("or"))
        {
            var op = _tokens[_current++];
            left = new BinarySyntax(op.Position, "or", left, ParseAnd());
        }
        return left;
    }

    private JinjaNode ParseAnd()
    {
        var left = ParseNot();
        while (IsName("and"))
        {
            var op = _tokens[_current++];
            left = new BinarySyntax(op.Position, "and", left, ParseNot());
        }
        return left;
    }

    private JinjaNode ParseNot()
    {
        if (!IsName("not")) return ParseComparison();
        var op = _tokens[_current++];
        return new UnarySyntax(op.Position, "not", ParseNot());
    }

    private JinjaNode ParseComparison()
    {
        var left = ParseAdditive();
        while (true)
        {
            string op;
            var at = Peek();
            if (IsNames("not", "in")) { op = "not in"; _current += 2; }
            else if (IsName("in")) { op = "in"; _current++; }
            else if (Is(JinjaTokenKind.ComparisonOperator)) { op = _tokens[_current++].Value; }
            else break;
            left = new BinarySyntax(at!.Value.Position, op, left, ParseAdditive());
        }
        return left;
    }

    private JinjaNode ParseAdditive()
    {
        var left = ParseMultiplicative();
        while (Is(JinjaTokenKind.AdditiveOperator))
        {
            var op = _tokens[_current++];
            left = new BinarySyntax(op.Position, op.Value, left, ParseMultiplicative());
        }
        return left;
    }

    private JinjaNode ParseMultiplicative()
    {
        var left = ParsePower();
        while (Is(JinjaTokenKind.MultiplicativeOperator))
        {
            var op = _tokens[_current++];
            left = new BinarySyntax(op.Position, op.Value, left, ParsePower());
        }
        return left;
    }

    private JinjaNode ParsePower()
    {
        var left = ParseTest();
        while (Is(JinjaTokenKind.PowerOperator))
        {
            var op = _tokens[_current++];
            left = new BinarySyntax(op.Position, "**", left, ParseTest());
        }
        return left;
    }

    private JinjaNode ParseTest()
    {
        var operand = ParseFilter();
        while (IsName("is"))
        {
            var op = _tokens[_current++];
            bool negate = IsName("not");
            if (negate) _current++;
            var test = ParsePrimary();
            if (test is not NameSyntax name) throw Error("expected a test name after 'is' (e.g. defined, none, string)", op);
            operand = new TestSyntax(op.Position, operand, negate, name.Name);
        }
        return operand;
    }

    private JinjaNode ParseFilter()
    {
        var operand = ParseSign();
        while (Is(JinjaTokenKind.Pipe))
        {
            var pipe = _tokens[_current++];
            JinjaNode filter = ParsePrimary();
            if (filter is not NameSyntax) throw Error("expected a filter name after '|'", pipe);
            if (Is(JinjaTokenKind.OpenParen)) filter = ParseCall(filter);
            operand = new FilterSyntax(pipe.Position, operand, filter);
        }
        return operand;
    }

    private JinjaNode ParseSign()
    {
        if (Peek() is { Kind: JinjaTokenKind.UnaryOperator or JinjaTokenKind.AdditiveOperator, Value: "-" or "+" } op)
        {
            _current++;
            return new UnarySyntax(op.Position, op.Value, ParseSign());
        }
        return ParseCallMember();
    }

    private JinjaNode ParseCallMember()
    {
        var member = ParseMember(ParsePrimary());
        return Is(JinjaTokenKind.OpenParen) ? ParseCall(member) : member;
    }

    private JinjaNode ParseCall(JinjaNode callee)
    {
        JinjaNode call = new CallSyntax(callee.Position, callee, ParseArguments(parameters: false));
        call = ParseMember(call);
        return Is(JinjaTokenKind.OpenParen) ? ParseCall(call) : call;
    }

    /// <summary>(a, b=1, *rest, **kw) of a call, or the parameters of a macro (names with optional defaults).</summary>
    private List<JinjaNode> ParseArguments(bool parameters)
    {
        var open = Expect(JinjaTokenKind.OpenParen, "'('");
        var arguments = new List<JinjaNode>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        bool sawKeyword = false, sawSpread = false;
        while (!Is(JinjaTokenKind.CloseParen))
        {
            if (Peek() is null) throw Error("'(' is not closed: expected ')'", open);
            bool keywordSpread = Is(JinjaTokenKind.PowerOperator);
            bool spread = Peek() is { Kind: JinjaTokenKind.MultiplicativeOperator, Value: "*" };
            if (parameters && (keywordSpread || spread)) throw Error("argument unpacking is not allowed in macro parameters");
            if (keywordSpread)
            {
                var star = _tokens[_current++];
                arguments.Add(new SpreadSyntax(star.Position, ParseExpression(), Keywords: true));
                if (Is(JinjaTokenKind.Comma)) _current++;
                if (!Is(JinjaTokenKind.CloseParen)) throw Error("'**' must be applied to the last argument");
                break;
            }
            JinjaNode argument;
            if (spread)
            {
                if (sawSpread) throw Error("only one '*' argument unpacking is allowed");
                sawSpread = true;
                var star = _tokens[_current++];
                argument = new SpreadSyntax(star.Position, ParseExpression(), Keywords: false);
            }
            else
            {
                argument = ParseExpression();
                if (Is(JinjaTokenKind.Equals))
                {
                    _current++;
                    if (argument is not NameSyntax key)
                        throw Error(parameters ? "expected a parameter name before '='" : "expected a keyword name before '='", _tokens[_current - 1]);
                    argument = new KeywordArgumentSyntax(key.Position, key.Name, ParseExpression());
                }
                if (parameters)
                {
                    string name = argument switch
                    {
                        NameSyntax n => n.Name,
                        KeywordArgumentSyntax k => k.Name,
                        _ => throw Error("expected a parameter name"),
                    };
                    if (!names.Add(name)) throw Error($"duplicate parameter name '{name}'");
                }
                if (argument is KeywordArgumentSyntax) sawKeyword = true;
                else if (sawKeyword) throw Error(parameters ? "a parameter without a default follows one with a default" : "positional arguments must come before keyword arguments");
                else if (sawSpread) throw Error("positional arguments must not follow '*' unpacking");
            }
            arguments.Add(argument);
            if (Is(JinjaTokenKind.Comma)) _current++;
            else if (!Is(JinjaTokenKind.CloseParen))
                throw Peek() is { } t ? Error($"expected ',' or ')' in the argument list, found {Describe(t)}", t) : Error("'(' is not closed: expected ')'", open);
        }
        Expect(JinjaTokenKind.CloseParen, "')'");
        return arguments;
    }

    private JinjaNode ParseMember(JinjaNode target)
    {
        while (Is(JinjaTokenKind.Dot) || Is(JinjaTokenKind.OpenSquareBracket))
        {
            var op = _tokens[_current++];
            if (op.Kind == JinjaTokenKind.OpenSquareBracket)
            {
                var property = ParseSubscript(op);
                Expect(JinjaTokenKind.CloseSquareBracket, "']'");
                target = new MemberAccessSyntax(op.Position, target, property, Computed: true);
            }
            else
            {
                var property = ParsePrimary();
                if (property is not (NameSyntax or LiteralSyntax { Value: long }))
                    throw Error("expected a name or an integer after '.'", op);
                target = new MemberAccessSyntax(op.Position, target, property, Computed: false);
            }
        }
        return target;
    }

    /// <summary>[key], [i], or a slice [start:stop:step] with any part left out.</summary>
    private JinjaNode ParseSubscript(JinjaToken open)
    {
        var parts = new List<JinjaNode?>();
        bool slice = false;
        while (!Is(JinjaTokenKind.CloseSquareBracket))
        {
            if (Peek() is null) throw Error("'[' is not closed: expected ']'", open);
            if (Is(JinjaTokenKind.Colon))
            {
                parts.Add(null);
                _current++;
                slice = true;
            }
            else
            {
                parts.Add(ParseExpression());
                if (Is(JinjaTokenKind.Colon)) { _current++; slice = true; }
            }
        }
        if (parts.Count == 0) throw Error("expected an index, a key or a slice inside '[]'", open);
        if (!slice) return parts[0]!;
        if (parts.Count > 3) throw Error("a slice takes at most 3 parts (start:stop:step)", open);
        return new SliceSyntax(open.Position, parts.ElementAtOrDefault(0), parts.ElementAtOrDefault(1), parts.ElementAtOrDefault(2));
    }

    private JinjaNode ParsePrimary()
    {
        var token = Next("an expression");
        switch (token.Kind)
        {
            case JinjaTokenKind.NumericLiteral:
                return token.Value.Contains('.')
                    ? new LiteralSyntax(token.Position, double.Parse(token.Value, CultureInfo.InvariantCulture))
                    : new LiteralSyntax(token.Position, long.Parse(token.Value, CultureInfo.InvariantCulture));
            case JinjaTokenKind.StringLiteral:
            {
                string value = token.Value;
                while (Is(JinjaTokenKind.StringLiteral)) value += _tokens[_current++].Value; // 'a' 'b' is 'ab'
                return new LiteralSyntax(token.Position, value);
            }
            case JinjaTokenKind.Identifier:
                return new NameSyntax(token.Position, token.Value);
            case JinjaTokenKind.OpenParen:
            {
                var expression = ParseSequence(primary: false);
                Expect(JinjaTokenKind.CloseParen, "')'");
                return expression;
            }
            case JinjaTokenKind.OpenSquareBracket:
            {
                var items = new List<JinjaNode>();
                while (!Is(JinjaTokenKind.CloseSquareBracket))
                {
                    if (Peek() is null) throw Error("'[' is not closed: expected ']'", token);
                    items.Add(ParseExpression());
                    if (Is(JinjaTokenKind.Comma)) _current++;
                }
                _current++;
                return new ListSyntax(token.Position, items, IsTuple: false);
            }
            case JinjaTokenKind.OpenCurlyBracket:
            {
                var items = new List<(JinjaNode, JinjaNode)>();
                while (!Is(JinjaTokenKind.CloseCurlyBracket))
                {
                    if (Peek() is null) throw Error("'{' is not closed: expected '}'", token);
                    var key = ParseExpression();
                    Expect(JinjaTokenKind.Colon, "':' between a key and its value");
                    items.Add((key, ParseExpression()));
                    if (Is(JinjaTokenKind.Comma)) _current++;
                }
                _current++;
                return new DictSyntax(token.Position, items);
            }
            default:
                throw Error($"expected an expression, found {Describe(token)}", token);
        }
    }
}
