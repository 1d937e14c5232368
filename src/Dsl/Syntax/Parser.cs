using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Primitives;
using Pardec.Dsl.Text;

namespace Pardec.Dsl.Syntax;

/// <summary>
/// Recursive-descent parser. It never throws: a missing token is fabricated with zero width, an
/// unexpected one is skipped, and each broken line (statement) reports exactly one error — after the
/// first error the rest of the line is skipped silently and parsing resumes on the next line.
/// </summary>
public sealed class Parser
{
    private readonly IReadOnlyList<SyntaxToken> _tokens;
    private readonly DiagnosticBag _diagnostics;
    private int _position;
    private bool _statementHasError;

    private Parser(SourceText text, DiagnosticBag diagnostics)
    {
        _diagnostics = diagnostics;
        _tokens = Lexer.Tokenize(text, diagnostics).Where(t => t.Kind != SyntaxKind.BadToken).ToArray();
    }

    public static CompilationUnitSyntax Parse(SourceText text, DiagnosticBag diagnostics) =>
        new Parser(text, diagnostics).ParseCompilationUnit();

    private SyntaxToken Current => Peek(0);

    private SyntaxToken Peek(int offset)
    {
        int index = _position + offset;
        return index < _tokens.Count ? _tokens[index] : _tokens[_tokens.Count - 1];
    }

    private bool AtEndOfLine => Current.Kind is SyntaxKind.NewLineToken or SyntaxKind.EndOfFileToken;

    private SyntaxToken NextToken()
    {
        SyntaxToken current = Current;
        if (_position < _tokens.Count - 1)
        {
            _position++;
        }

        return current;
    }

    private bool IsKeyword(string text) => Current.Kind == SyntaxKind.IdentifierToken && Current.Text == text;

    // ---- Top level ----

    private CompilationUnitSyntax ParseCompilationUnit()
    {
        var strategies = new List<StrategySyntax>();
        bool reportedJunk = false;
        while (Current.Kind != SyntaxKind.EndOfFileToken)
        {
            if (Current.Kind == SyntaxKind.NewLineToken)
            {
                NextToken();
                continue;
            }

            if (IsKeyword("strategy"))
            {
                strategies.Add(ParseStrategy());
                reportedJunk = false;
                continue;
            }

            // One error for a run of junk lines, not one per line.
            if (!reportedJunk)
            {
                _diagnostics.Report(DiagnosticDescriptors.ExpectedStrategy, Current.Span, SyntaxFacts.Describe(Current));
                reportedJunk = true;
            }

            SkipRestOfLine();
        }

        return new CompilationUnitSyntax(strategies, Current);
    }

    private StrategySyntax ParseStrategy()
    {
        BeginStatement();
        SyntaxToken keyword = NextToken();
        SyntaxToken name = MatchIdentifier("a strategy name");
        EndOfStatement("the strategy name");

        var members = new List<MemberSyntax>();
        SyntaxToken endKeyword;
        while (true)
        {
            SkipBlankLines();
            if (Current.Kind == SyntaxKind.EndOfFileToken || IsKeyword("strategy"))
            {
                BeginStatement();
                endKeyword = MatchKeyword("end", $"'end' to close strategy '{name.Text}'");
                break;
            }

            if (IsKeyword("end"))
            {
                BeginStatement();
                endKeyword = NextToken();
                EndOfStatement("'end'");
                break;
            }

            MemberSyntax? member = ParseMember();
            if (member is not null)
            {
                members.Add(member);
            }
        }

        return new StrategySyntax(keyword, name, members, endKeyword);
    }

    // ---- Members ----

    private MemberSyntax? ParseMember()
    {
        BeginStatement();
        if (Current.Kind != SyntaxKind.IdentifierToken)
        {
            ReportExpected("a strategy member (" + string.Join(", ", SyntaxFacts.MemberKeywords) + ")");
            SkipRestOfLine();
            return null;
        }

        MemberSyntax? member = Current.Text switch
        {
            "paper" => new PaperSyntax(NextToken(), Match(SyntaxKind.StringToken, "a quoted paper title")),
            "guarantee" => new GuaranteeSyntax(NextToken(), MatchIdentifier("a guarantee (lossless, distribution, none)")),
            "canvas" => new CanvasSyntax(NextToken(), ParseExpression("a canvas (causal, masked(block: n))")),
            "cache" => new CacheSyntax(NextToken(), MatchIdentifier("a cache mode (prefix, dual, none)")),
            "model" => ParseModel(),
            "param" => ParseParam(),
            "state" => ParseState(),
            "step" => ParseStep(),
            "constrain" => new ConstrainSyntax(NextToken(), ParseExpression("a constraint (" + PrimitiveLibrary.Default.Describe(PrimitiveRole.Constraint) + ")")),
            "stop" => new StopSyntax(NextToken(), ParseSeparated(SyntaxKind.CommaToken, "a stop condition (eos, max_tokens, stop_strings, eot(p))")),
            _ => null,
        };

        if (member is null)
        {
            ReportUnknownKeyword("strategy member", SyntaxFacts.MemberKeywords.Concat(new[] { "end" }));
            SkipRestOfLine();
            return null;
        }

        if (member is not StepSyntax)
        {
            EndOfStatement($"'{member.Keyword.Text}'");
        }

        return member;
    }

    private ModelSyntax ParseModel()
    {
        SyntaxToken keyword = NextToken();
        SyntaxToken role = MatchIdentifier("a model role name");
        SyntaxToken colon = Match(SyntaxKind.ColonToken, "':' and a model kind");
        ExpressionSyntax kind = ParseExpression("a model kind (causal, masked, medusa(target, n), self(target, skip: a..b))");
        return new ModelSyntax(keyword, role, colon, kind);
    }

    private ParamSyntax ParseParam()
    {
        SyntaxToken keyword = NextToken();
        SyntaxToken name = MatchIdentifier("a param name");
        SyntaxToken colon = Match(SyntaxKind.ColonToken, "':' and a param type (int, float, bool)");
        SyntaxToken type = MatchIdentifier("a param type (int, float, bool)");

        SyntaxToken? equalsToken = null;
        ExpressionSyntax? defaultValue = null;
        if (Current.Kind == SyntaxKind.EqualsToken)
        {
            equalsToken = NextToken();
            defaultValue = ParseExpression("a default value");
        }

        SyntaxToken? inKeyword = null;
        ParamRangeSyntax? range = null;
        if (IsKeyword("in"))
        {
            inKeyword = NextToken();
            range = ParseParamRange();
        }

        SyntaxToken? runtime = IsKeyword("runtime") ? NextToken() : null;
        return new ParamSyntax(keyword, name, colon, type, equalsToken, defaultValue, inKeyword, range, runtime);
    }

    private ParamRangeSyntax ParseParamRange()
    {
        if (Current.Kind is SyntaxKind.OpenParenToken or SyntaxKind.OpenBracketToken)
        {
            SyntaxToken open = NextToken();
            ExpressionSyntax lower = ParsePrimary("a lower bound");
            SyntaxToken comma = Match(SyntaxKind.CommaToken, "',' between the bounds of an interval such as (0, 1]");
            ExpressionSyntax upper = ParsePrimary("an upper bound");
            SyntaxToken close = Current.Kind is SyntaxKind.CloseParenToken or SyntaxKind.CloseBracketToken
                ? NextToken()
                : Match(SyntaxKind.CloseBracketToken, "')' or ']' to close the interval");
            return new ParamRangeSyntax(open, lower, comma, upper, close);
        }

        ExpressionSyntax lo = ParsePrimary("a range such as 1..16 or (0, 1]");
        SyntaxToken dotDot = Match(SyntaxKind.DotDotToken, "'..' in a range lo..hi");
        ExpressionSyntax hi = ParsePrimary("an upper bound");
        return new ParamRangeSyntax(null, lo, dotDot, hi, null);
    }

    private StateSyntax ParseState()
    {
        SyntaxToken keyword = NextToken();
        SyntaxToken name = MatchIdentifier("a state name");
        SyntaxToken equalsToken = Match(SyntaxKind.EqualsToken, "'=' and a state kind");
        ExpressionSyntax initializer = ParseExpression("a state kind (" + PrimitiveLibrary.Default.Describe(PrimitiveRole.State) + ")");
        return new StateSyntax(keyword, name, equalsToken, initializer);
    }

    private StepSyntax ParseStep()
    {
        SyntaxToken keyword = NextToken();
        EndOfStatement("'step'");
        var statements = new List<StatementSyntax>();
        while (true)
        {
            SkipBlankLines();
            if (Current.Kind != SyntaxKind.IdentifierToken || SyntaxFacts.StartsLine(Current.Text) && !SyntaxFacts.StatementKeywords.Contains(Current.Text))
            {
                break;
            }

            BeginStatement();
            StatementSyntax? statement = ParseStatement();
            if (statement is null)
            {
                ReportUnknownKeyword("step statement", SyntaxFacts.StatementKeywords, SyntaxFacts.StatementKeywords.Concat(SyntaxFacts.MemberKeywords));
                SkipRestOfLine();
                continue;
            }

            EndOfStatement($"'{statement.Keyword.Text}'");
            statements.Add(statement);
        }

        return new StepSyntax(keyword, statements);
    }

    // ---- Step statements ----

    private StatementSyntax? ParseStatement() => Current.Text switch
    {
        "propose" => new ProposeSyntax(NextToken(), ParseSeparated(SyntaxKind.PlusToken, "a proposer (" + PrimitiveLibrary.Default.Describe(PrimitiveRole.Proposer) + ")")),
        "verify" => ParseVerify(),
        "accept" => new AcceptSyntax(NextToken(), ParseExpression("an acceptance rule (" + PrimitiveLibrary.Default.Describe(PrimitiveRole.Acceptance) + ")")),
        "update" => ParseUpdate(),
        "predict" => new PredictSyntax(NextToken(), MatchIdentifier("a masked model role")),
        "commit" => ParseCommit(),
        "block" => new BlockSyntax(NextToken(), ParseExpression("a block rule (adaptive(min: a, max: b))")),
        _ => null,
    };

    private VerifySyntax ParseVerify()
    {
        SyntaxToken keyword = NextToken();
        SyntaxToken target = MatchIdentifier("the model role that verifies");
        ExpressionSyntax? mode = Current.Kind == SyntaxKind.IdentifierToken ? ParsePrimary("a verify mode") : null;
        return new VerifySyntax(keyword, target, mode);
    }

    private UpdateSyntax ParseUpdate()
    {
        SyntaxToken keyword = NextToken();
        SyntaxToken state = MatchIdentifier("a state name");
        SyntaxToken from = MatchKeyword("from", "'from' and an update source");
        SyntaxToken source = MatchIdentifier("an update source (a proposer name, accept, context, predict)");
        return new UpdateSyntax(keyword, state, from, source);
    }

    private CommitSyntax ParseCommit()
    {
        SyntaxToken keyword = NextToken();
        ExpressionSyntax rule = ParseExpression("a commit rule (one, top k, confidence >= t, factor(f), margin >= m, credit(s) >= t, local(anchor: a, radius: r), draft_verify)");
        ExpressionSyntax? operand = null;
        if (rule is NameExpressionSyntax && Current.Kind is SyntaxKind.NumberToken or SyntaxKind.IdentifierToken)
        {
            operand = ParsePrimary("a count");
        }

        SyntaxToken? comma = null, at = null, least = null;
        ExpressionSyntax? atLeast = null;
        if (Current.Kind == SyntaxKind.CommaToken)
        {
            comma = NextToken();
            at = MatchKeyword("at", "'at least n'");
            least = MatchKeyword("least", "'least' after 'at'");
            atLeast = ParseExpression("a count after 'at least'");
        }

        return new CommitSyntax(keyword, rule, operand, comma, at, least, atLeast);
    }

    // ---- Expressions ----

    private SeparatedSyntaxList<ExpressionSyntax> ParseSeparated(SyntaxKind separator, string expected)
    {
        var nodes = new List<SyntaxNode> { ParseExpression(expected) };
        while (Current.Kind == separator)
        {
            nodes.Add(NextToken());
            nodes.Add(ParseExpression(expected));
        }

        return new SeparatedSyntaxList<ExpressionSyntax>(nodes);
    }

    private ExpressionSyntax ParseExpression(string expected)
    {
        ExpressionSyntax left = ParseRange(expected);
        if (Current.Kind == SyntaxKind.GreaterEqualsToken)
        {
            SyntaxToken op = NextToken();
            ExpressionSyntax right = ParseRange("a value after '>='");
            return new ComparisonExpressionSyntax(left, op, right);
        }

        return left;
    }

    private ExpressionSyntax ParseRange(string expected)
    {
        ExpressionSyntax lower = ParsePrimary(expected);
        if (Current.Kind == SyntaxKind.DotDotToken)
        {
            SyntaxToken dotDot = NextToken();
            ExpressionSyntax upper = ParsePrimary("an upper bound after '..'");
            return new RangeExpressionSyntax(lower, dotDot, upper);
        }

        return lower;
    }

    private ExpressionSyntax ParsePrimary(string expected)
    {
        switch (Current.Kind)
        {
            case SyntaxKind.NumberToken:
            case SyntaxKind.StringToken:
                return new LiteralExpressionSyntax(NextToken());
            case SyntaxKind.MinusToken:
                SyntaxToken minus = NextToken();
                return new NegationExpressionSyntax(minus, ParsePrimary("a number after '-'"));
            case SyntaxKind.OpenBracketToken:
                return ParseList();
            case SyntaxKind.IdentifierToken:
                SyntaxToken identifier = NextToken();
                if (Current.Kind == SyntaxKind.DotToken)
                {
                    SyntaxToken dot = NextToken();
                    SyntaxToken member = MatchIdentifier($"a member name after '{identifier.Text}.'");
                    ArgumentListSyntax? args = Current.Kind == SyntaxKind.OpenParenToken ? ParseArgumentList() : null;
                    return new CallExpressionSyntax(identifier, dot, member, args);
                }

                if (Current.Kind == SyntaxKind.OpenParenToken)
                {
                    return new CallExpressionSyntax(null, null, identifier, ParseArgumentList());
                }

                return new NameExpressionSyntax(identifier);
            default:
                ReportExpected(expected, DiagnosticDescriptors.ExpectedExpression);
                return new NameExpressionSyntax(Missing(SyntaxKind.IdentifierToken));
        }
    }

    private ListExpressionSyntax ParseList()
    {
        SyntaxToken open = NextToken();
        var nodes = new List<SyntaxNode>();
        if (Current.Kind != SyntaxKind.CloseBracketToken)
        {
            nodes.Add(ParseExpression("a list element"));
            while (Current.Kind == SyntaxKind.CommaToken)
            {
                nodes.Add(NextToken());
                nodes.Add(ParseExpression("a list element"));
            }
        }

        SyntaxToken close = Match(SyntaxKind.CloseBracketToken, "',' or ']'");
        return new ListExpressionSyntax(open, new SeparatedSyntaxList<ExpressionSyntax>(nodes), close);
    }

    private ArgumentListSyntax ParseArgumentList()
    {
        SyntaxToken open = NextToken();
        var nodes = new List<SyntaxNode>();
        if (Current.Kind != SyntaxKind.CloseParenToken)
        {
            nodes.Add(ParseArgument());
            while (Current.Kind == SyntaxKind.CommaToken)
            {
                nodes.Add(NextToken());
                nodes.Add(ParseArgument());
            }
        }

        SyntaxToken close = Match(SyntaxKind.CloseParenToken, "',' or ')'");
        return new ArgumentListSyntax(open, new SeparatedSyntaxList<ArgumentSyntax>(nodes), close);
    }

    private ArgumentSyntax ParseArgument()
    {
        if (Current.Kind == SyntaxKind.IdentifierToken && Peek(1).Kind == SyntaxKind.ColonToken)
        {
            SyntaxToken name = NextToken();
            SyntaxToken colon = NextToken();
            return new ArgumentSyntax(name, colon, ParseExpression($"a value for '{name.Text}'"));
        }

        return new ArgumentSyntax(null, null, ParseExpression("an argument"));
    }

    // ---- Tokens and recovery ----

    private void BeginStatement() => _statementHasError = false;

    private void SkipBlankLines()
    {
        while (Current.Kind == SyntaxKind.NewLineToken)
        {
            NextToken();
        }
    }

    private void SkipRestOfLine()
    {
        while (!AtEndOfLine)
        {
            NextToken();
        }

        if (Current.Kind == SyntaxKind.NewLineToken)
        {
            NextToken();
        }
    }

    private void EndOfStatement(string after)
    {
        if (!AtEndOfLine && !_statementHasError)
        {
            _diagnostics.Report(DiagnosticDescriptors.ExpectedEndOfLine, Current.Span, SyntaxFacts.Describe(Current), after);
        }

        SkipRestOfLine();
    }

    private SyntaxToken Match(SyntaxKind kind, string expected)
    {
        if (Current.Kind == kind)
        {
            return NextToken();
        }

        ReportExpected(expected);
        return Missing(kind);
    }

    private SyntaxToken MatchIdentifier(string expected) => Match(SyntaxKind.IdentifierToken, expected);

    private SyntaxToken MatchKeyword(string keyword, string expected)
    {
        if (IsKeyword(keyword))
        {
            return NextToken();
        }

        ReportExpected(expected);
        return Missing(SyntaxKind.IdentifierToken);
    }

    private SyntaxToken Missing(SyntaxKind kind) => SyntaxToken.Missing(kind, EndOfPreviousToken());

    private int EndOfPreviousToken() => _position == 0 ? 0 : _tokens[_position - 1].Span.End;

    private void ReportExpected(string expected, DiagnosticDescriptor? descriptor = null)
    {
        if (_statementHasError)
        {
            return;
        }

        // At the end of a line, point just after the last token (where the missing thing belongs).
        TextSpan span = AtEndOfLine ? new TextSpan(EndOfPreviousToken(), 0) : Current.Span;
        _diagnostics.Report(descriptor ?? DiagnosticDescriptors.ExpectedToken, span, expected, SyntaxFacts.Describe(Current));
        _statementHasError = true;
    }

    private void ReportUnknownKeyword(string context, IEnumerable<string> choices, IEnumerable<string>? suggestFrom = null)
    {
        string[] list = choices.ToArray();
        string? nearest = NameSuggester.Nearest(Current.Text, suggestFrom ?? list);
        string hint = nearest is null ? string.Empty : $"; did you mean '{nearest}'?";
        if (context == "strategy member" && SyntaxFacts.StatementKeywords.Contains(Current.Text))
        {
            hint = $"; '{Current.Text}' belongs inside 'step'";
        }

        _diagnostics.Report(DiagnosticDescriptors.UnknownKeyword, Current.Span, context, Current.Text, string.Join(", ", list), hint);
        _statementHasError = true;
    }
}
