using System.Collections.Generic;
using System.Globalization;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Text;

namespace Pardec.Dsl.Syntax;

/// <summary>
/// Turns text into tokens. The language is line-oriented: a line break is a token, except inside
/// parentheses or brackets (so a long Medusa choice list may span lines). Whitespace and <c>#</c>
/// comments are leading trivia. Never throws; a bad character becomes a <see cref="SyntaxKind.BadToken"/>.
/// </summary>
public sealed class Lexer
{
    private readonly SourceText _text;
    private readonly DiagnosticBag _diagnostics;
    private int _position;
    private int _depth;

    public Lexer(SourceText text, DiagnosticBag diagnostics)
    {
        _text = text;
        _diagnostics = diagnostics;
    }

    public static IReadOnlyList<SyntaxToken> Tokenize(SourceText text, DiagnosticBag diagnostics)
    {
        var lexer = new Lexer(text, diagnostics);
        var tokens = new List<SyntaxToken>();
        SyntaxToken token;
        do
        {
            token = lexer.Lex();
            tokens.Add(token);
        }
        while (token.Kind != SyntaxKind.EndOfFileToken);

        return tokens;
    }

    private char Current => Peek(0);

    private char Peek(int offset) => _position + offset < _text.Length ? _text[_position + offset] : '\0';

    public SyntaxToken Lex()
    {
        List<SyntaxTrivia> trivia = ReadTrivia();
        int start = _position;
        char c = Current;
        SyntaxKind kind;
        object? value = null;

        if (_position >= _text.Length)
        {
            return Token(SyntaxKind.EndOfFileToken, start, trivia);
        }

        switch (c)
        {
            case '\r':
            case '\n':
                _position += c == '\r' && Peek(1) == '\n' ? 2 : 1;
                _depth = 0;
                return Token(SyntaxKind.NewLineToken, start, trivia);
            case ':': kind = Single(SyntaxKind.ColonToken); break;
            case ',': kind = Single(SyntaxKind.CommaToken); break;
            case '=': kind = Single(SyntaxKind.EqualsToken); break;
            case '+': kind = Single(SyntaxKind.PlusToken); break;
            case '-': kind = Single(SyntaxKind.MinusToken); break;
            case '(': _depth++; kind = Single(SyntaxKind.OpenParenToken); break;
            case '[': _depth++; kind = Single(SyntaxKind.OpenBracketToken); break;
            case ')': _depth = System.Math.Max(0, _depth - 1); kind = Single(SyntaxKind.CloseParenToken); break;
            case ']': _depth = System.Math.Max(0, _depth - 1); kind = Single(SyntaxKind.CloseBracketToken); break;
            case '>' when Peek(1) == '=':
                _position += 2;
                kind = SyntaxKind.GreaterEqualsToken;
                break;
            case '.' when Peek(1) == '.':
                _position += 2;
                kind = SyntaxKind.DotDotToken;
                break;
            case '.' when char.IsDigit(Peek(1)):
                kind = ReadNumber(out value);
                break;
            case '.':
                kind = Single(SyntaxKind.DotToken);
                break;
            case '"':
                kind = ReadString(out value);
                break;
            default:
                if (char.IsDigit(c))
                {
                    kind = ReadNumber(out value);
                }
                else if (char.IsLetter(c) || c == '_')
                {
                    while (char.IsLetterOrDigit(Current) || Current == '_')
                    {
                        _position++;
                    }

                    kind = SyntaxKind.IdentifierToken;
                }
                else
                {
                    _position++;
                    _diagnostics.Report(DiagnosticDescriptors.UnexpectedCharacter, new TextSpan(start, 1), c);
                    kind = SyntaxKind.BadToken;
                }

                break;
        }

        return Token(kind, start, trivia, value);
    }

    private SyntaxKind Single(SyntaxKind kind)
    {
        _position++;
        return kind;
    }

    private SyntaxToken Token(SyntaxKind kind, int start, List<SyntaxTrivia> trivia, object? value = null) =>
        new(kind, start, _text.Text.Substring(start, _position - start), value, trivia.ToArray());

    private List<SyntaxTrivia> ReadTrivia()
    {
        var trivia = new List<SyntaxTrivia>();
        while (true)
        {
            int start = _position;
            char c = Current;
            if (c == ' ' || c == '\t')
            {
                while (Current == ' ' || Current == '\t')
                {
                    _position++;
                }

                trivia.Add(new SyntaxTrivia(SyntaxKind.WhitespaceTrivia, start, _text.Text.Substring(start, _position - start)));
            }
            else if (c == '#')
            {
                while (_position < _text.Length && Current != '\n' && Current != '\r')
                {
                    _position++;
                }

                trivia.Add(new SyntaxTrivia(SyntaxKind.CommentTrivia, start, _text.Text.Substring(start, _position - start)));
            }
            else if ((c == '\n' || c == '\r') && _depth > 0 && !NextLineStartsStatement())
            {
                _position += c == '\r' && Peek(1) == '\n' ? 2 : 1;
                trivia.Add(new SyntaxTrivia(SyntaxKind.LineBreakTrivia, start, _text.Text.Substring(start, _position - start)));
            }
            else
            {
                return trivia;
            }
        }
    }

    // An unclosed '(' or '[' must not swallow the rest of the file: a line that starts with a
    // keyword ends the bracket, so the parser can report one error and recover on that line.
    private bool NextLineStartsStatement()
    {
        int i = _position;
        while (i < _text.Length && (_text[i] == '\n' || _text[i] == '\r' || _text[i] == ' ' || _text[i] == '\t'))
        {
            i++;
        }

        int start = i;
        while (i < _text.Length && (char.IsLetterOrDigit(_text[i]) || _text[i] == '_'))
        {
            i++;
        }

        return i > start && SyntaxFacts.StartsLine(_text.Text.Substring(start, i - start));
    }

    private SyntaxKind ReadNumber(out object? value)
    {
        int start = _position;
        while (char.IsDigit(Current))
        {
            _position++;
        }

        if (Current == '.' && char.IsDigit(Peek(1)))
        {
            _position++;
            while (char.IsDigit(Current))
            {
                _position++;
            }
        }

        if ((Current == 'e' || Current == 'E') &&
            (char.IsDigit(Peek(1)) || ((Peek(1) == '-' || Peek(1) == '+') && char.IsDigit(Peek(2)))))
        {
            _position += 2;
            while (char.IsDigit(Current))
            {
                _position++;
            }
        }

        // A letter glued to a number (e.g. "3x") is one bad number, not two tokens.
        while (char.IsLetterOrDigit(Current) || Current == '_')
        {
            _position++;
        }

        string text = _text.Text.Substring(start, _position - start);
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double number))
        {
            value = number;
        }
        else
        {
            _diagnostics.Report(DiagnosticDescriptors.InvalidNumber, TextSpan.FromBounds(start, _position), text);
            value = 0.0;
        }

        return SyntaxKind.NumberToken;
    }

    private SyntaxKind ReadString(out object? value)
    {
        int start = _position;
        _position++;
        var builder = new System.Text.StringBuilder();
        while (true)
        {
            char c = Current;
            if (_position >= _text.Length || c == '\n' || c == '\r')
            {
                _diagnostics.Report(DiagnosticDescriptors.UnterminatedString, TextSpan.FromBounds(start, _position));
                break;
            }

            _position++;
            if (c == '"')
            {
                break;
            }

            if (c == '\\' && (Current == '"' || Current == '\\'))
            {
                c = Current;
                _position++;
            }

            builder.Append(c);
        }

        value = builder.ToString();
        return SyntaxKind.StringToken;
    }
}
