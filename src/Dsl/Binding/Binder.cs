using System;
using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Diagnostics;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
using Pardec.Dsl.Syntax;
using Pardec.Dsl.Text;
using Pardec.Dsl.Trees;

namespace Pardec.Dsl.Binding;

/// <summary>
/// Binds one <see cref="StrategySyntax"/>: resolves names (models, params and states share one namespace),
/// types values, recognises primitives, and checks the rules that make a strategy work. It takes a plain
/// syntax tree, so anything that can build one — the .pdec parser or the generator's attribute reader
/// through <see cref="StrategyBuilder"/> — gets the same checks.
/// </summary>
public sealed partial class Binder
{
    private readonly DiagnosticBag _diagnostics;
    private readonly BoundStrategy _strategy;
    private readonly Dictionary<string, (string Kind, SyntaxToken Declaration)> _names = new();
    private readonly PrimitiveLibrary _library;
    private readonly StrategyScope? _scope;

    private readonly Func<string, string?>? _readFile;

    private Binder(StrategySyntax syntax, DiagnosticBag diagnostics, PrimitiveLibrary library, StrategyScope? scope, Func<string, string?>? readFile)
    {
        _diagnostics = diagnostics;
        _library = library;
        _scope = scope;
        _readFile = readFile;
        _strategy = new BoundStrategy(syntax, library);
    }

    /// <summary>Binds one strategy on its own: it can name no other strategy as an engine.</summary>
    /// <param name="readFile">Reads a file a strategy names (see <see cref="PdecCompiler.Compile(string, string, PrimitiveLibrary?, Func{string, string?}?)"/>).</param>
    public static BoundStrategy Bind(StrategySyntax syntax, DiagnosticBag diagnostics, PrimitiveLibrary? library = null, Func<string, string?>? readFile = null) =>
        Bind(syntax, diagnostics, library, null, readFile);

    /// <param name="scope">The file's other strategies, which this one may run as the engine of a draft.</param>
    internal static BoundStrategy Bind(StrategySyntax syntax, DiagnosticBag diagnostics, PrimitiveLibrary? library, StrategyScope? scope, Func<string, string?>? readFile = null)
    {
        var binder = new Binder(syntax, diagnostics, library ?? PrimitiveLibrary.Default, scope, readFile);
        binder.BindStrategy();
        return binder._strategy;
    }

    private CanvasKind CanvasKind => _strategy.Canvas?.Kind ?? CanvasKind.Causal;

    private void Report(DiagnosticDescriptor descriptor, TextSpan span, params object[] args) => _diagnostics.Report(descriptor, span, args);

    private static bool IsMissing(SyntaxNode node) => node.DescendantTokens().Any(t => t.IsMissing);

    private void BindStrategy()
    {
        StrategySyntax syntax = _strategy.Syntax;
        var seen = new Dictionary<string, MemberSyntax>();
        foreach (MemberSyntax member in syntax.Members)
        {
            bool single = member is PaperSyntax or GuaranteeSyntax or CanvasSyntax or CacheSyntax or StepSyntax or ConstrainSyntax;
            if (single && seen.ContainsKey(member.Keyword.Text))
            {
                Report(DiagnosticDescriptors.DuplicateStatement, member.Keyword.Span, member.Keyword.Text, _strategy.Name);
            }

            seen[member.Keyword.Text] = member;
        }

        // Declarations first, so references may point forward (a medusa model may name a later target).
        foreach (MemberSyntax member in syntax.Members)
        {
            switch (member)
            {
                case ModelSyntax m: Declare(m.Role, "model"); break;
                case ParamSyntax p: Declare(p.Identifier, "param"); break;
                case StateSyntax s: Declare(s.Identifier, "state"); break;
            }
        }

        // Params before everything that may reference them (the canvas's block size, a model's head count).
        foreach (ParamSyntax param in syntax.Members.OfType<ParamSyntax>())
        {
            BindParam(param);
        }

        foreach (MemberSyntax member in syntax.Members)
        {
            switch (member)
            {
                case PaperSyntax p when !p.Title.IsMissing: _strategy.Paper = (string?)p.Title.Value; break;
                case GuaranteeSyntax g: BindGuarantee(g); break;
                case CanvasSyntax c: BindCanvas(c); break;
            }
        }

        if (!seen.ContainsKey("canvas"))
        {
            Report(DiagnosticDescriptors.MissingStatement, syntax.Identifier.Span, _strategy.Name, "a canvas: 'canvas causal' or 'canvas masked(block: n)'");
        }

        foreach (ModelSyntax model in syntax.Members.OfType<ModelSyntax>())
        {
            BindModel(model);
        }

        foreach (StateSyntax state in syntax.Members.OfType<StateSyntax>())
        {
            BindState(state);
        }

        foreach (CacheSyntax cache in syntax.Members.OfType<CacheSyntax>())
        {
            BindCache(cache);
        }

        if (syntax.Members.OfType<ConstrainSyntax>().FirstOrDefault() is { } constrain)
        {
            BindConstrain(constrain);
        }

        StepSyntax? step = syntax.Members.OfType<StepSyntax>().FirstOrDefault();
        if (step is null)
        {
            Report(DiagnosticDescriptors.MissingStatement, syntax.Identifier.Span, _strategy.Name, "a 'step'");
        }
        else
        {
            BindStep(step);
        }

        foreach (StopSyntax stop in syntax.Members.OfType<StopSyntax>())
        {
            BindStop(stop);
        }

        CheckStrategy();
    }

    private void Declare(SyntaxToken identifier, string kind)
    {
        if (identifier.IsMissing)
        {
            return;
        }

        if (_names.TryGetValue(identifier.Text, out var existing))
        {
            Report(DiagnosticDescriptors.DuplicateName, identifier.Span, identifier.Text, existing.Kind, _strategy.Name);
            return;
        }

        _names[identifier.Text] = (kind, identifier);
    }

    private bool IsFirstDeclaration(SyntaxToken identifier) =>
        _names.TryGetValue(identifier.Text, out var entry) && ReferenceEquals(entry.Declaration, identifier);

    // ---- Members ----

    private void BindGuarantee(GuaranteeSyntax syntax)
    {
        _strategy.GuaranteeSyntax = syntax;
        string[] choices = { "lossless", "distribution", "none" };
        switch (syntax.Value.Text)
        {
            case "lossless": _strategy.Guarantee = Guarantee.Lossless; break;
            case "distribution": _strategy.Guarantee = Guarantee.Distribution; break;
            case "none": _strategy.Guarantee = Guarantee.None; break;
            default:
                ReportUnknownChoice("guarantee", syntax.Value, choices);
                break;
        }
    }

    private void ReportUnknownChoice(string what, SyntaxNode syntax, IReadOnlyList<string> choices)
    {
        if (IsMissing(syntax))
        {
            return;
        }

        string name = syntax is SyntaxToken token ? token.Text : NameOf(syntax as ExpressionSyntax) ?? syntax.ToString() ?? string.Empty;
        Report(DiagnosticDescriptors.UnknownChoice, syntax.Span, what, name, string.Join(", ", choices),
            NameSuggester.Hint(name, choices.Select(c => c.Split(' ', '(')[0])));
    }

    private static string? NameOf(ExpressionSyntax? expression) => expression switch
    {
        NameExpressionSyntax n => n.Identifier.Text,
        CallExpressionSyntax c => c.Receiver is null ? c.Identifier.Text : c.Receiver.Text + "." + c.Identifier.Text,
        _ => null,
    };

    private void BindCanvas(CanvasSyntax syntax)
    {
        string? name = NameOf(syntax.Canvas);
        switch (name)
        {
            case "causal":
            {
                var args = BindArguments(syntax.Canvas, PrimitiveCatalog.CausalCanvas);
                _strategy.Canvas = new CanvasPlan(CanvasKind.Causal, null, CacheMode.Kv, ExprArg(args, "batch"));
                break;
            }

            case "masked":
            {
                var args = BindArguments(syntax.Canvas, PrimitiveCatalog.MaskedCanvas);
                _strategy.Canvas = new CanvasPlan(CanvasKind.Masked, ExprArg(args, "block") ?? Literal.Int(32), CacheMode.None, null);
                break;
            }

            default:
                ReportUnknownChoice("canvas", syntax.Canvas, new[] { "causal", "masked(block: n)" });
                break;
        }
    }

    private void BindCache(CacheSyntax syntax)
    {
        if (CanvasKind != CanvasKind.Masked)
        {
            Report(DiagnosticDescriptors.PrimitiveOnCanvas, syntax.Keyword.Span, "cache", "masked", _strategy.Name, "causal");
            return;
        }

        CacheMode? mode = syntax.Mode.Text switch
        {
            "prefix" => CacheMode.Prefix,
            "dual" => CacheMode.Dual,
            "none" => CacheMode.None,
            _ => null,
        };

        if (mode is null)
        {
            ReportUnknownChoice("cache mode", syntax.Mode, new[] { "prefix", "dual", "none" });
            return;
        }

        _strategy.Canvas = _strategy.Canvas! with { Cache = mode.Value };
    }

    private void BindParam(ParamSyntax syntax)
    {
        if (!IsFirstDeclaration(syntax.Identifier))
        {
            return;
        }

        string name = syntax.Identifier.Text;
        ParamType? type = syntax.Type.Text switch
        {
            "int" => ParamType.Int,
            "float" => ParamType.Float,
            "bool" => ParamType.Bool,
            _ => null,
        };

        if (type is null)
        {
            ReportUnknownChoice("param type", syntax.Type, new[] { "int", "float", "bool" });
            return;
        }

        RangePlan? range = null;
        if (syntax.Range is { } rangeSyntax)
        {
            double? lo = ConstantNumber(rangeSyntax.Lower, type.Value, $"the lower bound of '{name}'");
            double? hi = ConstantNumber(rangeSyntax.Upper, type.Value, $"the upper bound of '{name}'");
            if (type == ParamType.Bool)
            {
                Report(DiagnosticDescriptors.TypeMismatch, rangeSyntax.Span, $"a range of '{name}'", "on an int or float param", $"'{name}'", "bool");
                return;
            }

            if (lo is null || hi is null)
            {
                return;
            }

            range = new RangePlan(lo.Value, rangeSyntax.LowerInclusive, hi.Value, rangeSyntax.UpperInclusive);
            if (range.IsEmpty)
            {
                Report(DiagnosticDescriptors.EmptyRange, rangeSyntax.Span, range.Format(type.Value));
                return;
            }
        }

        if (syntax.DefaultValue is null)
        {
            Report(DiagnosticDescriptors.MissingArgument, syntax.Identifier.Span, "param " + name, "default", "'= value'; params are build-time constants unless marked runtime");
            return;
        }

        double? value = ConstantNumber(syntax.DefaultValue, type.Value, $"the default of '{name}'");
        if (value is null)
        {
            return;
        }

        if (range is not null && !range.Contains(value.Value))
        {
            Report(DiagnosticDescriptors.DefaultOutsideRange, syntax.DefaultValue.Span, Expr.Format(value.Value, type.Value), name, range.Format(type.Value));
            return;
        }

        _strategy.Params.Add(new ParamPlan(name, type.Value, new Literal(type.Value, value.Value), range, syntax.RuntimeKeyword is not null));
    }

    /// <summary>A literal of the given type (an int where an int is needed, a number for a float, true/false for a bool).</summary>
    private double? ConstantNumber(ExpressionSyntax syntax, ParamType type, string what)
    {
        if (IsMissing(syntax))
        {
            return null;
        }

        (double Value, ParamType Type)? literal = LiteralOf(syntax);
        if (literal is null)
        {
            Report(DiagnosticDescriptors.TypeMismatch, syntax.Span, what, "a literal " + type.ToString().ToLowerInvariant(), $"'{Text(syntax)}'", Describe(syntax));
            return null;
        }

        bool fits = type switch
        {
            ParamType.Int => literal.Value.Type == ParamType.Int,
            ParamType.Float => literal.Value.Type != ParamType.Bool,
            _ => literal.Value.Type == ParamType.Bool,
        };

        if (!fits)
        {
            Report(DiagnosticDescriptors.TypeMismatch, syntax.Span, what, "an " + type.ToString().ToLowerInvariant(), $"'{Text(syntax)}'", literal.Value.Type.ToString().ToLowerInvariant());
            return null;
        }

        return literal.Value.Value;
    }

    private static (double, ParamType)? LiteralOf(ExpressionSyntax syntax)
    {
        switch (syntax)
        {
            case LiteralExpressionSyntax { Token.Value: double number } literal:
                bool isInt = literal.Token.Text.All(char.IsDigit);
                return (number, isInt ? ParamType.Int : ParamType.Float);
            case NegationExpressionSyntax { Operand: LiteralExpressionSyntax { Token.Value: double } } negation:
                var (value, type) = LiteralOf(negation.Operand)!.Value;
                return (-value, type);
            case NameExpressionSyntax { Identifier.Text: "true" }:
                return (1, ParamType.Bool);
            case NameExpressionSyntax { Identifier.Text: "false" }:
                return (0, ParamType.Bool);
            default:
                return null;
        }
    }

    private string Text(SyntaxNode syntax) => _diagnostics.Text.ToString(syntax.Span);

    private string Describe(ExpressionSyntax syntax) => syntax switch
    {
        NameExpressionSyntax n when _names.TryGetValue(n.Identifier.Text, out var entry) => "a " + entry.Kind,
        NameExpressionSyntax => "a name",
        LiteralExpressionSyntax { Token.Kind: SyntaxKind.StringToken } => "a string",
        ListExpressionSyntax => "a list",
        RangeExpressionSyntax => "a range",
        CallExpressionSyntax => "a call",
        ComparisonExpressionSyntax => "a comparison",
        _ => "an expression",
    };

    private void BindModel(ModelSyntax syntax)
    {
        if (!IsFirstDeclaration(syntax.Role) || IsMissing(syntax.ModelKind))
        {
            return;
        }

        string role = syntax.Role.Text;
        string? kindName = syntax.ModelKind is CallExpressionSyntax { Receiver: not null } ? null : NameOf(syntax.ModelKind);
        ModelPlan? model = null;
        switch (kindName)
        {
            case "causal":
                BindArguments(syntax.ModelKind, new PrimitiveSignature("causal"));
                model = new ModelPlan(role, ModelKind.Causal);
                break;
            case "masked":
            {
                var args = BindArguments(syntax.ModelKind, PrimitiveCatalog.MaskedModel);
                Expr? block = ExprArg(args, "block_causal"), shifted = ExprArg(args, "shifted");
                model = new ModelPlan(role, ModelKind.Masked, Denoiser: block is null && shifted is null ? null : new DenoiserPlan(block, shifted));
                break;
            }
            case "medusa":
            {
                var args = BindArguments(syntax.ModelKind, PrimitiveCatalog.Medusa);
                model = new ModelPlan(role, ModelKind.Medusa, StringArg(args, "target"), ExprArg(args, "heads") ?? Literal.Int(1));
                break;
            }

            case "self":
            {
                var args = BindArguments(syntax.ModelKind, PrimitiveCatalog.Self);
                model = new ModelPlan(role, ModelKind.Self, StringArg(args, "target"), null, args.TryGetValue("skip", out var skip) ? (LayerRange)skip.Value : new LayerRange(0, 0));
                break;
            }

            default:
                string name = kindName ?? Text(syntax.ModelKind);
                Report(DiagnosticDescriptors.UnknownModelKind, syntax.ModelKind.Span, name,
                    "causal, masked, medusa(target, n), self(target, skip: a..b)", NameSuggester.Hint(name, PrimitiveCatalog.ModelKinds));
                break;
        }

        if (model is null)
        {
            return;
        }

        _strategy.Models.Add(model);
        if (_strategy.Canvas is null)
        {
            return;
        }

        bool fits = CanvasKind == CanvasKind.Masked ? model.Kind == ModelKind.Masked : model.Kind != ModelKind.Masked;
        if (!fits)
        {
            Report(DiagnosticDescriptors.ModelKindOnCanvas, syntax.ModelKind.Span, role, KindPhrase(model.Kind),
                CanvasKind.ToString().ToLowerInvariant(),
                CanvasKind == CanvasKind.Masked ? "a masked model" : "a causal, medusa(...) or self(...) model");
        }
    }

    private static string KindPhrase(ModelKind kind) => kind switch
    {
        ModelKind.Causal => "a causal model",
        ModelKind.Masked => "a masked model",
        ModelKind.Medusa => "a medusa(...) model",
        _ => "a self(...) model",
    };

    private void BindState(StateSyntax syntax)
    {
        if (!IsFirstDeclaration(syntax.Identifier) || IsMissing(syntax.Initializer))
        {
            return;
        }

        string? kind = syntax.Initializer is CallExpressionSyntax { Receiver: not null } ? null : NameOf(syntax.Initializer);
        PrimitiveDescriptor? descriptor = kind is null ? null : _library.Find(PrimitiveRole.State, kind);
        StateKind? stateKind = kind is null ? null : StateKinds.FirstOrDefault(k => StatePlan.KindName(k) == kind);
        if (descriptor is null || stateKind is null)
        {
            ReportUnknownChoice("state kind", syntax.Initializer, _library.OfRole(PrimitiveRole.State).Select(d => d.Usage).ToArray());
            return;
        }

        var args = BindArguments(syntax.Initializer, descriptor.Signature);
        if (!CheckCanvas(descriptor, syntax.Initializer))
        {
            return;
        }

        CheckRules(descriptor, args, syntax.Initializer);

        var named = descriptor.Parameters
            .Where(p => args.ContainsKey(p.Name))
            .Select(p => new NamedExpr(p.Name, (Expr)args[p.Name].Value))
            .ToList();
        _strategy.States.Add(new StatePlan(syntax.Identifier.Text, stateKind.Value, named));
        _strategy.StatePrimitives[syntax.Identifier.Text] = new BoundPrimitive(descriptor, ChooseForm(descriptor, args), args, null);
    }

    private static readonly StateKind[] StateKinds = { StateKind.NgramPool, StateKind.Credits, StateKind.AdaptiveLength, StateKind.CostAware };

    /// <summary>States whose current value an int argument may take (a length, a window, a budget), set before every step.</summary>
    private static bool IsLengthState(StateKind kind) => kind is StateKind.AdaptiveLength or StateKind.CostAware;

    // ---- Arguments ----

    private static IEnumerable<ArgumentSyntax> ArgumentsOf(ExpressionSyntax syntax) =>
        syntax is CallExpressionSyntax { Arguments: { } list } ? list.Arguments : Enumerable.Empty<ArgumentSyntax>();

    /// <summary>Matches arguments to the signature by name or position, types each value, reports unknown/duplicate/missing ones.</summary>
    private Dictionary<string, BoundArgument> BindArguments(ExpressionSyntax call, PrimitiveSignature signature, string? displayName = null)
    {
        string name = displayName ?? signature.Name;
        var result = new Dictionary<string, BoundArgument>();
        var positional = new Queue<ParameterSignature>(signature.Parameters.Where(p => p.Positional && p.Kind != ArgKind.Flag));
        foreach (ArgumentSyntax argument in ArgumentsOf(call))
        {
            if (IsMissing(argument))
            {
                continue;
            }

            ParameterSignature? parameter;
            if (argument.Name is not null)
            {
                parameter = signature.Find(argument.Name.Text);
                if (parameter is null)
                {
                    Report(DiagnosticDescriptors.UnknownArgument, argument.Name.Span, name, argument.Name.Text,
                        signature.Parameters.Length == 0 ? "(none)" : signature.ParameterList,
                        NameSuggester.Hint(argument.Name.Text, signature.Parameters.Select(p => p.Name)));
                    continue;
                }
            }
            else if (argument.Value is NameExpressionSyntax flagName && signature.Find(flagName.Identifier.Text) is { Kind: ArgKind.Flag } flag)
            {
                parameter = flag;
            }
            else if (positional.Count > 0)
            {
                parameter = positional.Dequeue();
            }
            else
            {
                Report(DiagnosticDescriptors.UnknownArgument, argument.Span, name, Text(argument),
                    signature.Parameters.Length == 0 ? "(none)" : signature.ParameterList + " (pass them by name: name: value)",
                    string.Empty);
                continue;
            }

            if (result.ContainsKey(parameter.Name))
            {
                Report(DiagnosticDescriptors.DuplicateArgument, argument.Span, parameter.Name, name);
                continue;
            }

            object? value = BindValue(argument.Value, parameter, name);
            if (value is not null)
            {
                result[parameter.Name] = new BoundArgument(parameter, argument.Value, value);
            }
        }

        // A missing argument is only worth reporting when the call itself parsed.
        if (!IsMissing(call))
        {
            foreach (ParameterSignature parameter in signature.Parameters.Where(p => p.Required && !result.ContainsKey(p.Name)))
            {
                bool given = ArgumentsOf(call).Any(a => a.Name?.Text == parameter.Name) ||
                    (parameter.Positional && ArgumentsOf(call).Any(a => a.Name is null));
                if (!given)
                {
                    Report(DiagnosticDescriptors.MissingArgument, call.Span, name, parameter.Name, parameter.Description);
                }
            }
        }

        return result;
    }

    private object? BindValue(ExpressionSyntax syntax, ParameterSignature parameter, string owner)
    {
        string what = $"'{parameter.Name}' of '{owner}'";
        switch (parameter.Kind)
        {
            case ArgKind.Flag:
                return true;
            case ArgKind.Model:
                return BindReference(syntax, "model", what, parameter);
            case ArgKind.State:
                return BindReference(syntax, "state", what, parameter);
            case ArgKind.Tree:
                return BindTree(syntax, what);
            case ArgKind.Strategy:
                return BindEngine(syntax, what);
            case ArgKind.String:
                return BindString(syntax, what);
            case ArgKind.File:
                return BindString(syntax, what) is { } path ? BindFile(syntax, path, what) : null;
            case ArgKind.LayerRange:
                if (syntax is RangeExpressionSyntax range && LiteralOf(range.Lower) is ({ } lo, ParamType.Int) && LiteralOf(range.Upper) is ({ } hi, ParamType.Int))
                {
                    if (lo < 0 || hi < lo)
                    {
                        Report(DiagnosticDescriptors.EmptyRange, syntax.Span, $"{lo}..{hi}");
                        return null;
                    }

                    return new LayerRange((int)lo, (int)hi);
                }

                Report(DiagnosticDescriptors.TypeMismatch, syntax.Span, what, "an int range such as 4..7", $"'{Text(syntax)}'", Describe(syntax));
                return null;
            default:
                return BindNumber(syntax, parameter, what);
        }
    }

    private Expr? BindNumber(ExpressionSyntax syntax, ParameterSignature parameter, string what)
    {
        ParamType wanted = parameter.Kind switch
        {
            ArgKind.Int => ParamType.Int,
            ArgKind.Bool => ParamType.Bool,
            _ => ParamType.Float,
        };
        string wantedText = "an " + wanted.ToString().ToLowerInvariant();

        if (LiteralOf(syntax) is var (value, type))
        {
            bool fits = wanted == ParamType.Float ? type != ParamType.Bool : type == wanted;
            if (!fits)
            {
                Report(DiagnosticDescriptors.TypeMismatch, syntax.Span, what, wantedText, $"'{Text(syntax)}'", "a " + type.ToString().ToLowerInvariant());
                return null;
            }

            CheckBounds(syntax, parameter, value, what);
            return new Literal(wanted, value);
        }

        if (syntax is NameExpressionSyntax name)
        {
            string id = name.Identifier.Text;
            ParamPlan? param = _strategy.Params.FirstOrDefault(p => p.Name == id);
            if (param is not null)
            {
                bool fits = wanted == ParamType.Float ? param.Type != ParamType.Bool : param.Type == wanted;
                if (!fits)
                {
                    Report(DiagnosticDescriptors.TypeMismatch, syntax.Span, what, wantedText, $"'{id}'", "a " + param.Type.ToString().ToLowerInvariant() + " param");
                    return null;
                }

                CheckBounds(syntax, parameter, param.Default.Value, what);
                return new ParamRef(id);
            }

            StatePlan? state = _strategy.States.FirstOrDefault(s => s.Name == id);
            if (state is not null && parameter.AllowsState && IsLengthState(state.Kind))
            {
                return new StateRef(id);
            }

            if (_names.TryGetValue(id, out var entry))
            {
                // Declared but unusable here (a model, a state of another kind, or a param that failed to bind).
                if (entry.Kind != "param")
                {
                    Report(DiagnosticDescriptors.TypeMismatch, syntax.Span, what, wantedText + (parameter.AllowsState ? " or an adaptive_length or cost_aware state" : string.Empty), $"'{id}'", "a " + entry.Kind);
                }

                return null;
            }

            ReportUnknownName(name.Identifier, "param", _strategy.Params.Select(p => p.Name));
            return null;
        }

        if (!IsMissing(syntax))
        {
            Report(DiagnosticDescriptors.TypeMismatch, syntax.Span, what, wantedText, $"'{Text(syntax)}'", Describe(syntax));
        }

        return null;
    }

    private void CheckBounds(ExpressionSyntax syntax, ParameterSignature parameter, double value, string what)
    {
        if (value < parameter.Min || value > parameter.Max || (parameter.ExclusiveMin && value == parameter.Min))
        {
            string low = parameter.ExclusiveMin ? "(" : "[";
            string expected = double.IsPositiveInfinity(parameter.Max) ? (parameter.ExclusiveMin ? "> " : ">= ") + parameter.Min : $"in {low}{parameter.Min}, {parameter.Max}]";
            Report(DiagnosticDescriptors.ValueOutOfBounds, syntax.Span, what, Expr.Format(value, ParamType.Float).Replace(".0", string.Empty), expected);
        }
    }

    private void ReportUnknownName(SyntaxToken identifier, string kind, IEnumerable<string> declared)
    {
        if (identifier.IsMissing)
        {
            return;
        }

        string[] names = declared.ToArray();
        string list = names.Length == 0 ? $"no {kind} is declared in '{_strategy.Name}'" : $"declared {kind}s: {string.Join(", ", names)}";
        Report(DiagnosticDescriptors.UnknownName, identifier.Span, kind, identifier.Text, list, NameSuggester.Hint(identifier.Text, names));
    }

    /// <summary>A model role or state name, checked for kind.</summary>
    private string? BindReference(ExpressionSyntax syntax, string kind, string what, ParameterSignature parameter)
    {
        if (syntax is not NameExpressionSyntax name)
        {
            if (!IsMissing(syntax))
            {
                Report(DiagnosticDescriptors.TypeMismatch, syntax.Span, what, $"a {kind} name", $"'{Text(syntax)}'", Describe(syntax));
            }

            return null;
        }

        return kind == "model"
            ? BindModelReference(name.Identifier, parameter.ModelKinds, what)
            : BindStateReference(name.Identifier, parameter.StateKind, what);
    }

    private string? BindModelReference(SyntaxToken identifier, ModelKind[]? kinds, string what)
    {
        ModelPlan? model = _strategy.Models.FirstOrDefault(m => m.Role == identifier.Text);
        if (model is null)
        {
            if (!_names.TryGetValue(identifier.Text, out var entry) || entry.Kind != "model")
            {
                ReportUnknownName(identifier, "model", _names.Where(n => n.Value.Kind == "model").Select(n => n.Key));
            }

            return null;
        }

        if (kinds is not null && !kinds.Contains(model.Kind))
        {
            Report(DiagnosticDescriptors.WrongRoleKind, identifier.Span, identifier.Text, KindPhrase(model.Kind), what,
                string.Join(" or ", kinds.Select(KindPhrase)));
            return null;
        }

        return identifier.Text;
    }

    private string? BindStateReference(SyntaxToken identifier, StateKind? kind, string what)
    {
        StatePlan? state = _strategy.States.FirstOrDefault(s => s.Name == identifier.Text);
        if (state is null)
        {
            if (!_names.TryGetValue(identifier.Text, out var entry) || entry.Kind != "state")
            {
                ReportUnknownName(identifier, "state", _names.Where(n => n.Value.Kind == "state").Select(n => n.Key));
            }

            return null;
        }

        if (kind is not null && state.Kind != kind)
        {
            Report(DiagnosticDescriptors.WrongRoleKind, identifier.Span, identifier.Text, "a " + StatePlan.KindName(state.Kind) + " state", what,
                "a " + StatePlan.KindName(kind.Value) + " state");
            return null;
        }

        return identifier.Text;
    }

    private TokenTreeShape? BindTree(ExpressionSyntax syntax, string what)
    {
        var paths = new List<IReadOnlyList<int>>();
        if (syntax is ListExpressionSyntax list)
        {
            foreach (ExpressionSyntax element in list.Elements)
            {
                if (element is not ListExpressionSyntax path)
                {
                    paths = null;
                    break;
                }

                var choices = new List<int>();
                foreach (ExpressionSyntax choice in path.Elements)
                {
                    if (LiteralOf(choice) is not (var value, ParamType.Int))
                    {
                        choices = null;
                        break;
                    }

                    choices.Add((int)value);
                }

                if (choices is null)
                {
                    paths = null;
                    break;
                }

                paths.Add(choices);
            }
        }
        else
        {
            paths = null;
        }

        if (paths is null)
        {
            if (!IsMissing(syntax))
            {
                Report(DiagnosticDescriptors.TypeMismatch, syntax.Span, what, "a list of paths such as [[0], [1], [0, 0]]", $"'{Text(syntax)}'", Describe(syntax));
            }

            return null;
        }

        TokenTreeShape? shape = TokenTreeShape.TryCreate(paths, out TokenTreeError? error);
        if (shape is null)
        {
            var elements = ((ListExpressionSyntax)syntax).Elements;
            TextSpan span = elements.Count > error!.PathIndex ? elements[error.PathIndex].Span : syntax.Span;
            Report(DiagnosticDescriptors.TreeNotPrefixClosed, span, error.Message);
        }

        return shape;
    }

    private static Expr? ExprArg(Dictionary<string, BoundArgument> args, string name) =>
        args.TryGetValue(name, out var arg) ? arg.Value as Expr : null;

    private static string StringArg(Dictionary<string, BoundArgument> args, string name) =>
        args.TryGetValue(name, out var arg) ? (string)arg.Value : string.Empty;

    private static bool FlagArg(Dictionary<string, BoundArgument> args, string name) => args.ContainsKey(name);

    /// <summary>Worst-case value: a build-time param's default, a runtime param's upper bound, an adaptive length's max.</summary>
    private double WorstCase(Expr? expr, double fallback = 0)
    {
        switch (expr)
        {
            case Literal literal:
                return literal.Value;
            case ParamRef reference when _strategy.Params.FirstOrDefault(p => p.Name == reference.Name) is { } param:
                return param.Runtime && param.Range is not null ? param.Range.Upper : param.Default.Value;
            case StateRef reference when _strategy.States.FirstOrDefault(s => s.Name == reference.Name) is { } state:
                return WorstCase(state.Arg("max"), fallback);
            default:
                return fallback;
        }
    }
}
