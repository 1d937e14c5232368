using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Pardec.Dsl.Collections;
using Pardec.Generators.Model;

namespace Pardec.Generators;

public sealed partial class PdecGenerator
{
    /// <summary>
    /// Reads a <c>[Strategy]</c> class into a <see cref="StrategyClassSpec"/>: each attribute becomes one line of strategy
    /// text tagged with the location of the attribute argument it came from, so the front end's diagnostics land there.
    /// Only strings and locations leave this method — symbols stay behind so the next step can be cached.
    /// </summary>
    internal static StrategyClassSpec ParseStrategyClass(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var type = (INamedTypeSymbol)context.TargetSymbol;
        var declaration = (ClassDeclarationSyntax)context.TargetNode;
        var reader = new ClassReader(context.SemanticModel, cancellationToken);
        var classLocation = LocationSpec.From(declaration.Identifier.GetLocation());
        string ns = type.ContainingNamespace.IsGlobalNamespace ? string.Empty : type.ContainingNamespace.ToDisplayString();

        if (!declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
            reader.Report(GeneratorDiagnostics.NotPartial, classLocation, type.Name);
        if (type.ContainingType is not null)
            reader.Report(GeneratorDiagnostics.ClassShape, classLocation, type.Name, "a top-level class, not nested in '" + type.ContainingType.Name + "'");
        else if (type.IsGenericType)
            reader.Report(GeneratorDiagnostics.ClassShape, classLocation, type.Name, "non-generic: the decoder is one concrete class");
        else if (ns.Length == 0)
            reader.Report(GeneratorDiagnostics.ClassShape, classLocation, type.Name, "declared in a namespace: its decoder is generated next to it");

        reader.ReadStrategyAttribute(context.Attributes[0], classLocation);
        foreach (var member in type.GetMembers().Where(m => !m.IsImplicitlyDeclared).OrderBy(m => m.Locations[0].SourceTree?.FilePath, System.StringComparer.Ordinal).ThenBy(m => m.Locations[0].SourceSpan.Start))
        {
            cancellationToken.ThrowIfCancellationRequested();
            reader.ReadMember(member);
        }
        foreach (var attribute in type.GetAttributes())
        {
            if (attribute.AttributeClass?.ToDisplayString() == StepAttributeName) reader.ReadStep(attribute, classLocation);
        }

        return new StrategyClassSpec(ns, type.Name, classLocation, reader.MemberLines, reader.Statements.Concat(reader.AcceptLines).ToArray(),
            reader.Roles, reader.Hooks, reader.Diagnostics);
    }

    /// <summary>Collects lines and diagnostics while walking one class's attributes and members.</summary>
    private sealed class ClassReader(SemanticModel semanticModel, CancellationToken cancellationToken)
    {
        public readonly List<LineSpec> Members = new(), Statements = new(), AcceptLines = new();
        public readonly List<RolePropertySpec> Roles = new();
        public readonly List<HookSpec> Hooks = new();
        public readonly List<DiagnosticSpec> Diagnostics = new();
        private readonly List<LineSpec> _params = new();
        private LineSpec? _stop;

        public void Report(DiagnosticDescriptor descriptor, LocationSpec location, params object[] args) =>
            Diagnostics.Add(DiagnosticSpec.Create(descriptor, location, args));

        public void ReadStrategyAttribute(AttributeData attribute, LocationSpec fallback)
        {
            var syntax = Syntax(attribute);
            if (NamedString(attribute, "Paper") is { } paper)
                Members.Add(new LineSpec("paper \"" + paper.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"", ArgumentLocation(syntax, "Paper", -1, fallback)));
            string guarantee = attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is int g
                ? g switch { 0 => "none", 1 => "lossless", 2 => "distribution", _ => g.ToString(CultureInfo.InvariantCulture) }
                : "none";
            Members.Add(new LineSpec("guarantee " + guarantee, ArgumentLocation(syntax, null, 0, fallback)));
            Members.Add(new LineSpec("canvas " + (NamedString(attribute, "Canvas") ?? "causal"), ArgumentLocation(syntax, "Canvas", -1, fallback)));
            if (NamedString(attribute, "Stop") is { } stop) _stop = new LineSpec("stop " + stop, ArgumentLocation(syntax, "Stop", -1, fallback));
        }

        public void ReadStep(AttributeData attribute, LocationSpec fallback)
        {
            var syntax = Syntax(attribute);
            if (attribute.ConstructorArguments.Length != 1) return;
            var lines = attribute.ConstructorArguments[0];
            if (lines.Kind != TypedConstantKind.Array) return;
            for (int i = 0; i < lines.Values.Length; i++)
            {
                if (lines.Values[i].Value is string line) Statements.Add(new LineSpec(line, ArgumentLocation(syntax, null, i, fallback)));
            }
        }

        public void ReadMember(ISymbol member)
        {
            foreach (var attribute in member.GetAttributes())
            {
                switch (attribute.AttributeClass?.ToDisplayString())
                {
                    case ModelAttributeName: ReadModel(member, attribute); break;
                    case ParamAttributeName: ReadParam(member, attribute); break;
                    case ProposeAttributeName: ReadHook(member, attribute); break;
                    case AcceptAttributeName: ReadAccept(member, attribute); break;
                    case CommitAttributeName: Report(GeneratorDiagnostics.CommitReserved, Where(attribute, member), member.Name); break;
                }
            }
        }

        /// <summary>All members are read; the lines go out in the language's order (models, params, stop).</summary>
        public EquatableArray<LineSpec> MemberLines => Members.Concat(_params).Concat(_stop is null ? Enumerable.Empty<LineSpec>() : new[] { _stop }).ToArray();

        private void ReadModel(ISymbol member, AttributeData attribute)
        {
            var location = Where(attribute, member);
            string role = Snake(member.Name);
            int kind = attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is int k ? k : 0;
            string target = NamedString(attribute, "Target") ?? "target";
            string text = kind switch
            {
                0 => "causal",
                1 => "masked",
                2 => "medusa(" + target + ", " + (NamedInt(attribute, "Heads") ?? 0).ToString(CultureInfo.InvariantCulture) + ")",
                3 => "self(" + target + ", skip: " + (NamedString(attribute, "Skip") ?? string.Empty) + ")",
                _ => kind.ToString(CultureInfo.InvariantCulture),
            };
            // The role is declared even when the member has the wrong shape, so its uses in step text do not cascade.
            Members.Add(new LineSpec("model " + role + ": " + text, location));
            if (member is not IPropertySymbol { IsStatic: true, IsPartialDefinition: true, PartialImplementationPart: null, SetMethod: null } property
                || property.Type.SpecialType != SpecialType.System_String)
            {
                Report(GeneratorDiagnostics.MemberShape, LocationSpec.From(member.Locations[0]), member.Name, "Model",
                    "a static partial string property with only a getter and no implementation, e.g. '[Model(ModelKind.Causal)] public static partial string Target { get; }'");
                return;
            }
            Roles.Add(new RolePropertySpec(Accessibility(property.DeclaredAccessibility), property.Name, role));
        }

        private void ReadParam(ISymbol member, AttributeData attribute)
        {
            var location = Where(attribute, member);
            string? type = member is IPropertySymbol p ? p.Type.SpecialType switch
            {
                SpecialType.System_Int32 => "int",
                SpecialType.System_Double => "float",
                SpecialType.System_Boolean => "bool",
                _ => null,
            } : null;
            if (type is null)
            {
                Report(GeneratorDiagnostics.MemberShape, LocationSpec.From(member.Locations[0]), member.Name, "Param",
                    "an int, double or bool property, e.g. '[Param(Min = 1, Max = 16)] public int Length { get; init; } = 4;'");
                return;
            }

            var initializer = member.DeclaringSyntaxReferences
                .Select(r => r.GetSyntax(cancellationToken)).OfType<PropertyDeclarationSyntax>()
                .Select(d => d.Initializer?.Value).FirstOrDefault(v => v is not null);
            object? value = type == "bool" ? false : type == "int" ? 0 : 0d;
            if (initializer is not null)
            {
                var model = initializer.SyntaxTree == semanticModel.SyntaxTree ? semanticModel : semanticModel.Compilation.GetSemanticModel(initializer.SyntaxTree);
                var constant = model.GetConstantValue(initializer, cancellationToken);
                if (!constant.HasValue || constant.Value is double d && (double.IsNaN(d) || double.IsInfinity(d)))
                {
                    Report(GeneratorDiagnostics.MemberShape, LocationSpec.From(initializer.GetLocation()), member.Name, "Param", "a constant, finite initializer (its default value)");
                    return;
                }
                value = constant.Value;
            }

            string? range = NamedString(attribute, "Range");
            double? min = NamedDouble(attribute, "Min"), max = NamedDouble(attribute, "Max");
            if (range is null && (min is not null || max is not null))
            {
                range = type == "int"
                    ? Number(min ?? int.MinValue, "int") + ".." + Number(max ?? int.MaxValue, "int")
                    : "[" + Number(min ?? -1e300, "float") + ", " + Number(max ?? 1e300, "float") + "]";
            }
            bool runtime = NamedBool(attribute, "Runtime");
            string line = "param " + Snake(member.Name) + ": " + type + " = " + Number(value, type) + (range is null ? string.Empty : " in " + range) + (runtime ? " runtime" : string.Empty);
            _params.Add(new LineSpec(line, location));
        }

        private void ReadHook(ISymbol member, AttributeData attribute)
        {
            var location = LocationSpec.From(member.Locations[0]);
            if (member is INamedTypeSymbol type)
            {
                ReadHookType(type, attribute, location);
                return;
            }
            if (member is not IMethodSymbol method) return;
            bool ok = method.IsStatic && !method.IsGenericMethod && method.ReturnType.SpecialType == SpecialType.System_Int32 && !method.ReturnsByRef
                && method.Parameters.Length == 2
                && IsSpanOfInt(method.Parameters[0], "System.ReadOnlySpan<T>") && IsSpanOfInt(method.Parameters[1], "System.Span<T>");
            if (!ok)
            {
                string found = (method.IsStatic ? "static " : string.Empty) + method.ReturnType.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat) + " " + method.Name
                    + (method.IsGenericMethod ? "<" + string.Join(", ", method.TypeParameters.Select(t => t.Name)) + ">" : string.Empty)
                    + "(" + string.Join(", ", method.Parameters.Select(p => p.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat))) + ")";
                Report(GeneratorDiagnostics.HookSignature, location, method.Name, ", found '" + found + "'");
                return;
            }

            if (MaxLength(member, attribute) is { } maxLength) Hooks.Add(new HookSpec(method.Name, maxLength, location));
        }

        private int? MaxLength(ISymbol member, AttributeData attribute)
        {
            int maxLength = NamedInt(attribute, "MaxLength") ?? 8;
            if (maxLength >= 1 && maxLength <= MaxHookLength) return maxLength;
            Report(GeneratorDiagnostics.MemberShape, Where(attribute, member), member.Name, "Propose",
                "a MaxLength from 1 to " + MaxHookLength.ToString(CultureInfo.InvariantCulture) + " (the tokens it may write each step; they are stack-allocated and verified in one forward)");
            return null;
        }

        /// <summary>A stateful hook: a nested class with Propose, and optionally Reset and Observe, called on one instance.</summary>
        private void ReadHookType(INamedTypeSymbol type, AttributeData attribute, LocationSpec location)
        {
            string? problem = type.TypeKind != TypeKind.Class ? "is not a class"
                : type.IsStatic ? "is static"
                : type.IsAbstract ? "is abstract"
                : type.IsGenericType ? "is generic"
                : !type.InstanceConstructors.Any(c => c.Parameters.Length == 0 && c.DeclaredAccessibility != Microsoft.CodeAnalysis.Accessibility.Private) ? "has no parameterless constructor the decoder can call"
                : null;
            IMethodSymbol? Method(string name) => type.GetMembers(name).OfType<IMethodSymbol>().FirstOrDefault(m => !m.IsStatic);
            var propose = Method("Propose");
            var reset = Method("Reset");
            var observe = Method("Observe");
            if (problem is null && (propose is null || propose.ReturnType.SpecialType != SpecialType.System_Int32 || propose.Parameters.Length != 2
                || !IsSpanOfInt(propose.Parameters[0], "System.ReadOnlySpan<T>") || !IsSpanOfInt(propose.Parameters[1], "System.Span<T>")))
                problem = propose is null ? "has no instance method Propose" : "has a Propose with the wrong signature";
            if (problem is null && reset is not null && (!reset.ReturnsVoid || reset.Parameters.Length != 1 || !IsSpanOfInt(reset.Parameters[0], "System.ReadOnlySpan<T>")))
                problem = "has a Reset with the wrong signature";
            if (problem is null && observe is not null && (!observe.ReturnsVoid || observe.Parameters.Length != 2 || !IsSpanOfInt(observe.Parameters[0], "System.ReadOnlySpan<T>")
                || observe.Parameters[1].Type.SpecialType != SpecialType.System_Int32))
                problem = "has an Observe with the wrong signature";
            if (problem is not null)
            {
                Report(GeneratorDiagnostics.HookTypeShape, location, type.Name, problem);
                return;
            }
            if (MaxLength(type, attribute) is { } maxLength) Hooks.Add(new HookSpec(type.Name, maxLength, location, IsType: true, HasReset: reset is not null, HasObserve: observe is not null));
        }

        private static bool IsSpanOfInt(IParameterSymbol parameter, string span) =>
            parameter.RefKind == RefKind.None && parameter.Type is INamedTypeSymbol { IsGenericType: true } t
            && t.OriginalDefinition.ToDisplayString() == span && t.TypeArguments[0].SpecialType == SpecialType.System_Int32;

        private void ReadAccept(ISymbol member, AttributeData attribute)
        {
            if (member is not IFieldSymbol { IsConst: true, ConstantValue: int rule } field || field.Type.ToDisplayString() != "Pardec.Acceptance")
            {
                Report(GeneratorDiagnostics.MemberShape, LocationSpec.From(member.Locations[0]), member.Name, "Accept",
                    "a const Acceptance field, e.g. '[Accept] const Acceptance Rule = Acceptance.Greedy;'");
                return;
            }
            string text = rule switch { 0 => "greedy", 1 => "rejection", _ => rule.ToString(CultureInfo.InvariantCulture) };
            AcceptLines.Add(new LineSpec("accept " + text, LocationSpec.From(field.Locations[0])));
        }

        private AttributeSyntax? Syntax(AttributeData attribute) => attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;

        private LocationSpec Where(AttributeData attribute, ISymbol member) =>
            Syntax(attribute) is { } syntax ? LocationSpec.From(syntax.GetLocation()) : LocationSpec.From(member.Locations[0]);

        /// <summary>The argument's expression when it was written out (by name, or at a position), else the attribute.</summary>
        private static LocationSpec ArgumentLocation(AttributeSyntax? syntax, string? name, int position, LocationSpec fallback)
        {
            if (syntax is null) return fallback;
            var arguments = syntax.ArgumentList?.Arguments ?? default;
            AttributeArgumentSyntax? argument = name is not null
                ? arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == name)
                : position < arguments.Count && arguments.Take(position + 1).All(a => a.NameEquals is null && a.NameColon is null) ? arguments[position] : null;
            return LocationSpec.From((argument?.Expression ?? (SyntaxNode)syntax).GetLocation());
        }
    }

    private const int MaxHookLength = 256;

    private static string? NamedString(AttributeData attribute, string name) => Named(attribute, name) as string;

    private static int? NamedInt(AttributeData attribute, string name) => Named(attribute, name) is int i ? i : null;

    private static double? NamedDouble(AttributeData attribute, string name) => Named(attribute, name) is double d && !double.IsNaN(d) ? d : null;

    private static bool NamedBool(AttributeData attribute, string name) => Named(attribute, name) is true;

    private static object? Named(AttributeData attribute, string name)
    {
        foreach (var pair in attribute.NamedArguments)
            if (pair.Key == name) return pair.Value.Value;
        return null;
    }

    /// <summary>A literal in the language: floats always carry a '.' or exponent, so <c>1</c> for a float reads as <c>1.0</c>.</summary>
    private static string Number(object? value, string type)
    {
        switch (value)
        {
            case bool b: return b ? "true" : "false";
            case double d when type == "int": return ((long)d).ToString(CultureInfo.InvariantCulture);
            case double d:
                string text = d.ToString("R", CultureInfo.InvariantCulture);
                return text.IndexOfAny(new[] { '.', 'E', 'e' }) < 0 ? text + ".0" : text;
            case int i when type == "float": return Number((double)i, type);
            case System.IConvertible c: return c.ToString(CultureInfo.InvariantCulture);
            default: return "0";
        }
    }

    /// <summary>C# names to the language's: <c>MaxNgram</c> → <c>max_ngram</c>, <c>Target</c> → <c>target</c>.</summary>
    internal static string Snake(string name)
    {
        var b = new StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c))
            {
                bool boundary = i > 0 && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1]) && char.IsUpper(name[i - 1])));
                if (boundary && name[i - 1] != '_') b.Append('_');
                b.Append(char.ToLowerInvariant(c));
            }
            else b.Append(c);
        }
        return b.ToString();
    }

    private static string Accessibility(Accessibility accessibility) => accessibility switch
    {
        Microsoft.CodeAnalysis.Accessibility.Public => "public",
        Microsoft.CodeAnalysis.Accessibility.Internal => "internal",
        Microsoft.CodeAnalysis.Accessibility.Protected => "protected",
        Microsoft.CodeAnalysis.Accessibility.ProtectedOrInternal => "protected internal",
        Microsoft.CodeAnalysis.Accessibility.ProtectedAndInternal => "private protected",
        _ => "private",
    };
}
