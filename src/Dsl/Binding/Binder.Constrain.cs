using System;
using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Collections;
using Pardec.Dsl.Constraints;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
using Pardec.Dsl.Syntax;
using Pardec.Dsl.Text;

namespace Pardec.Dsl.Binding;

/// <summary>A file a strategy names: the path as written, the path it was read from, and its text.</summary>
public sealed record BoundFile(string Path, string FullPath, string Text);

public sealed partial class Binder
{
    /// <summary>
    /// <c>constrain &lt;constraint&gt;</c>: the constraint's descriptor and arguments, its pattern, schema or grammar checked
    /// by the same parser the runtime compiles it with (errors at their position in the literal or the file), and the
    /// canvas rules. How it composes with the step is <see cref="CheckConstraintComposition"/>.
    /// </summary>
    private void BindConstrain(ConstrainSyntax syntax)
    {
        _strategy.ConstrainSyntax = syntax;
        ExpressionSyntax expression = syntax.Constraint;
        if (IsMissing(expression))
        {
            return;
        }

        string? name = expression is CallExpressionSyntax { Receiver: not null } ? null : NameOf(expression);
        PrimitiveDescriptor? descriptor = name is null ? null : _library.Find(PrimitiveRole.Constraint, name);
        if (descriptor is null)
        {
            ReportUnknownChoice("constraint", expression, _library.OfRole(PrimitiveRole.Constraint).Select(d => d.Usage).ToArray());
            return;
        }

        var args = BindArguments(expression, descriptor.Signature);
        CheckRules(descriptor, args, expression);
        bool regular = true, valid = true;
        foreach (BoundArgument argument in args.Values.Where(a => a.Parameter.Language is not null))
        {
            valid &= CheckPattern(descriptor, argument, ref regular);
        }

        if (!valid || descriptor.Parameters.Any(p => p.Required && !args.ContainsKey(p.Name)))
        {
            return;
        }

        // A constraint the strategy builds reads the tokenizer's vocabulary; one that does not comes with each request.
        PrimitiveForm? form = ChooseForm(descriptor, args);
        bool perRequest = form is not null && !form.Constructor.Any(c => c.Source is EngineSource { Value: EngineValue.Vocabulary });
        if (CanvasKind == CanvasKind.Masked)
        {
            if (!descriptor.Canvases.Contains(CanvasKind.Masked))
            {
                Report(DiagnosticDescriptors.ConstraintOnMaskedCanvas, expression.Span, Text(expression), _strategy.Name,
                    "a masked canvas follows a regular constraint the strategy declares (regex, json, a non-recursive grammar); a request's own constraint still reaches it through GenerationOptions.Constraint without this statement");
                return;
            }

            if (!regular || perRequest)
            {
                Report(DiagnosticDescriptors.ConstraintOnMaskedCanvas, expression.Span, Text(expression), _strategy.Name,
                    perRequest ? "a masked canvas needs a regular constraint known when the strategy is built" : "a masked canvas follows regular constraints only, and this grammar is recursive");
                return;
            }
        }

        if (_strategy.Canvas?.Batch is not null && descriptor.Batched is null)
        {
            Report(DiagnosticDescriptors.NotOnBatchedCanvas, expression.Span, $"'constrain {descriptor.Name}'", "the batched engine applies no constraint; use an unbatched causal canvas");
            return;
        }

        var plan = new ConstraintPlan(
            descriptor.Name,
            descriptor.Parameters.Where(p => args.ContainsKey(p.Name)).Select(p => Argument(p, args[p.Name])).ToEquatableArray(),
            perRequest,
            regular && !perRequest);
        _strategy.Constraint = new BoundPrimitive(descriptor, form, args, null);
        _strategy.ConstraintPlan = plan;
    }

    private static ConstraintArgument Argument(ParameterSignature parameter, BoundArgument argument) => argument.Value switch
    {
        BoundFile file => new ConstraintArgument(parameter.Name, ConstraintArgument.Quote(file.Path), parameter.Positional, file.Text),
        string text => new ConstraintArgument(parameter.Name, ConstraintArgument.Quote(text), parameter.Positional),
        Expr expr => new ConstraintArgument(parameter.Name, expr.ToString(), parameter.Positional),
        _ => new ConstraintArgument(parameter.Name, argument.Value.ToString() ?? string.Empty, parameter.Positional),
    };

    private string? BindString(ExpressionSyntax syntax, string what)
    {
        if (syntax is LiteralExpressionSyntax { Token.Kind: SyntaxKind.StringToken } literal)
        {
            return (string?)literal.Token.Value ?? string.Empty;
        }

        if (!IsMissing(syntax))
        {
            Report(DiagnosticDescriptors.TypeMismatch, syntax.Span, what, "a string literal", $"'{Text(syntax)}'", Describe(syntax));
        }

        return null;
    }

    private BoundFile? BindFile(ExpressionSyntax syntax, string path, string what)
    {
        string full = ResolvePath(_diagnostics.Text.Path, path);
        string? text = _readFile?.Invoke(full);
        if (text is null)
        {
            Report(DiagnosticDescriptors.ConstraintFileNotFound, syntax.Span, what, path, full);
            return null;
        }

        return new BoundFile(path, full, text);
    }

    /// <summary><paramref name="relative"/> against the directory of <paramref name="from"/>, with '.' and '..' folded (no file system access).</summary>
    public static string ResolvePath(string from, string relative)
    {
        bool rooted = relative.StartsWith("/", StringComparison.Ordinal) || relative.StartsWith("\\", StringComparison.Ordinal)
                      || (relative.Length > 1 && relative[1] == ':');
        int slash = Math.Max(from.LastIndexOf('/'), from.LastIndexOf('\\'));
        string combined = rooted || slash < 0 ? relative : from.Substring(0, slash + 1) + relative;
        char separator = combined.IndexOf('\\') >= 0 && combined.IndexOf('/') < 0 ? '\\' : '/';
        var parts = new List<string>();
        foreach (string part in combined.Split('/', '\\'))
        {
            if (part == "." || (part.Length == 0 && parts.Count > 0))
            {
                continue;
            }

            if (part == ".." && parts.Count > 0 && parts[parts.Count - 1] != ".." && parts[parts.Count - 1].Length > 0)
            {
                parts.RemoveAt(parts.Count - 1);
                continue;
            }

            parts.Add(part);
        }

        return string.Join(separator.ToString(), parts);
    }

    /// <summary>Parses a pattern, schema or grammar as the runtime will; reports where it fails. Returns false on an error.</summary>
    private bool CheckPattern(PrimitiveDescriptor descriptor, BoundArgument argument, ref bool regular)
    {
        PatternLanguage language = argument.Parameter.Language!.Value;
        string text = argument.Value is BoundFile file ? file.Text : (string)argument.Value;
        try
        {
            switch (language)
            {
                case PatternLanguage.Regex:
                    RegexParser.Parse(text);
                    break;
                case PatternLanguage.JsonSchema:
                {
                    // A schema whose references recurse is a context-free grammar: one regex per recursive target.
                    var rules = JsonSchemaLowering.ToRecursiveRegexes(text);
                    if (rules.Count > 1)
                    {
                        regular = false;
                        var parsed = rules.Select(r => (r.Target, r.Position, RegexParser.Parse(r.Regex))).ToList();
                        if (LeftRecursion.Find(parsed, JsonSchemaLowering.RecursionMarks) is { } left)
                        {
                            ReportInFile((BoundFile)argument.Value, DiagnosticDescriptors.RecursiveGrammar, left.Position, 0, left.Rule, left.Describe(),
                                "it is left-recursive (it can refer to itself before reading any text), which no pushdown matcher can expand; move the recursion after a terminal");
                            return false;
                        }

                        if (!CheckContextFree(descriptor, (BoundFile)argument.Value, rules[1].Position, rules[1].Target, rules[0].Target + " -> " + rules[1].Target))
                        {
                            return false;
                        }
                    }

                    break;
                }

                case PatternLanguage.Gbnf:
                    GbnfSyntax grammar = GbnfParser.Parse(text);
                    if (grammar.Recursion is { } cycle)
                    {
                        regular = false;
                        if (LeftRecursion.Find(grammar) is { } left)
                        {
                            ReportInFile((BoundFile)argument.Value, DiagnosticDescriptors.RecursiveGrammar, left.Position, 0, left.Rule, left.Describe(),
                                "it is left-recursive (it can refer to itself before reading any text), which no pushdown matcher can expand; rewrite it with repetition, e.g. item (\",\" item)*");
                            return false;
                        }

                        if (!CheckContextFree(descriptor, (BoundFile)argument.Value, cycle.Position, cycle.Rule, cycle.Describe()))
                        {
                            return false;
                        }
                    }

                    break;
            }

            return true;
        }
        catch (PatternSyntaxException e)
        {
            string what = language switch { PatternLanguage.Regex => "regex", PatternLanguage.JsonSchema => "JSON Schema", _ => "GBNF grammar" };
            if (argument.Value is BoundFile bound)
            {
                ReportInFile(bound, DiagnosticDescriptors.InvalidPattern, e.Position, 1, what, e.Reason);
            }
            else
            {
                Report(DiagnosticDescriptors.InvalidPattern, LiteralSpan((LiteralExpressionSyntax)argument.Syntax, e.Position), what, e.Reason);
            }

            return false;
        }
    }

    // A recursive grammar or schema: what a causal canvas follows when the runtime has a pushdown matcher for it
    // (the descriptor's ContextFree); masked canvases need a regular one (checked with the canvas).
    private bool CheckContextFree(PrimitiveDescriptor descriptor, BoundFile file, int position, string rule, string cycle)
    {
        if (descriptor.ContextFree)
        {
            return true;
        }

        ReportInFile(file, DiagnosticDescriptors.RecursiveGrammar, position, 0, rule, cycle,
            "the runtime follows only regular constraints of this kind (nothing reachable from the start refers back to itself); rewrite it with repetition, e.g. item (\",\" item)*");
        return false;
    }

    /// <summary>A diagnostic inside a file the strategy names: its path, line and column are the file's.</summary>
    private void ReportInFile(BoundFile file, DiagnosticDescriptor descriptor, int position, int length, params object[] args)
    {
        SourceText text = SourceText.From(file.Text, file.FullPath);
        position = Math.Max(0, Math.Min(position, file.Text.Length));
        length = Math.Min(length, file.Text.Length - position);
        _diagnostics.AddRange(new[] { Diagnostic.Create(descriptor, text, new TextSpan(position, length), args) });
    }

    /// <summary>The span in the .pdec text of the character at <paramref name="index"/> of a string literal's value.</summary>
    private static TextSpan LiteralSpan(LiteralExpressionSyntax literal, int index)
    {
        string raw = literal.Token.Text;
        int at = 1;
        for (int decoded = 0; decoded < index && at < raw.Length; decoded++)
        {
            at += raw[at] == '\\' && at + 1 < raw.Length && (raw[at + 1] == '"' || raw[at + 1] == '\\') ? 2 : 1;
        }

        int end = raw.Length > 1 && raw[raw.Length - 1] == '"' ? raw.Length - 1 : raw.Length;
        int length = at < end ? (raw[at] == '\\' && at + 1 < end && (raw[at + 1] == '"' || raw[at + 1] == '\\') ? 2 : 1) : 0;
        return new TextSpan(literal.Token.Span.Start + Math.Min(at, end), length);
    }

    /// <summary>
    /// How the constraint composes with the step (docs/language.md, "constrain"): a proposer that proposes only what a
    /// constraint forces needs one; under rejection sampling with a guarantee, every draft that keeps q(x) must draw it
    /// under the mask, since the tree prunes forbidden nodes and pruning an unmasked sample skews the distribution.
    /// </summary>
    private void CheckConstraintComposition(BoundStep step)
    {
        bool constrained = _strategy.Constraint is not null || _strategy.ConstrainSyntax is not null;
        foreach (BoundProposer proposer in step.Proposers.Where(p => p.Descriptor.NeedsConstraint && !constrained))
        {
            Report(DiagnosticDescriptors.ConstraintRequired, proposer.Syntax.Span, NameOf(proposer.Syntax) ?? proposer.Descriptor.Name, _strategy.Name);
        }

        if (_strategy.Constraint is null || step.Accept is not RejectionAccept || _strategy.Guarantee == Guarantee.None)
        {
            return;
        }

        string masking = string.Join(", ", _library.OfRole(PrimitiveRole.Proposer).Where(d => d.MasksDrafts && d.ProbabilityFlag is not null).Select(d => d.Name));
        foreach (BoundProposer proposer in step.Proposers.Where(p => p.HasProbabilities && !p.Descriptor.MasksDrafts))
        {
            Report(DiagnosticDescriptors.UnmaskedDraftUnderConstraint, proposer.Syntax.Span, _strategy.ConstraintPlan!.Primitive,
                NameOf(proposer.Syntax) ?? proposer.Descriptor.Name, masking);
        }
    }
}
