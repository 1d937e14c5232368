using Pardec.Dsl.Collections;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Text;

namespace Pardec.Dsl.Syntax;

/// <summary>A parsed file: its text, its root and the lexer/parser diagnostics.</summary>
public sealed class SyntaxTree
{
    private SyntaxTree(SourceText text, CompilationUnitSyntax root, EquatableArray<Diagnostic> diagnostics)
    {
        Text = text;
        Root = root;
        Diagnostics = diagnostics;
    }

    public SourceText Text { get; }

    public CompilationUnitSyntax Root { get; }

    public EquatableArray<Diagnostic> Diagnostics { get; }

    public static SyntaxTree Parse(string text, string path = "") => Parse(SourceText.From(text, path));

    public static SyntaxTree Parse(SourceText text)
    {
        var diagnostics = new DiagnosticBag(text);
        CompilationUnitSyntax root = Parser.Parse(text, diagnostics);
        return new SyntaxTree(text, root, diagnostics.ToEquatableArray());
    }
}
