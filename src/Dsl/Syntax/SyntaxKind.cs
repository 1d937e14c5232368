namespace Pardec.Dsl.Syntax;

public enum SyntaxKind
{
    // Tokens
    BadToken,
    EndOfFileToken,
    NewLineToken,
    IdentifierToken,
    NumberToken,
    StringToken,
    ColonToken,
    CommaToken,
    EqualsToken,
    PlusToken,
    MinusToken,
    DotToken,
    DotDotToken,
    GreaterEqualsToken,
    OpenParenToken,
    CloseParenToken,
    OpenBracketToken,
    CloseBracketToken,

    // Trivia
    WhitespaceTrivia,
    CommentTrivia,
    LineBreakTrivia,

    // Top level
    CompilationUnit,
    Strategy,

    // Strategy members
    PaperMember,
    GuaranteeMember,
    CanvasMember,
    CacheMember,
    ModelMember,
    ParamMember,
    StateMember,
    StepMember,
    StopMember,
    ConstrainMember,

    // Step statements
    ProposeStatement,
    VerifyStatement,
    AcceptStatement,
    UpdateStatement,
    PredictStatement,
    CommitStatement,
    BlockStatement,

    // Expressions
    LiteralExpression,
    NameExpression,
    CallExpression,
    MemberCallExpression,
    ListExpression,
    RangeExpression,
    ComparisonExpression,
    NegationExpression,
    Argument,
    ArgumentList,
    ParamRange,
}
