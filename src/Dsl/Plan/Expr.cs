using System.Globalization;

namespace Pardec.Dsl.Plan;

public enum ParamType
{
    Int,
    Float,
    Bool,
}

/// <summary>
/// A value in a plan: a literal, or a reference that an engine resolves — the generator folds
/// build-time params into constants; the interpreter reads runtime params (and states) when it runs.
/// </summary>
public abstract record Expr
{
    internal static string Format(double value, ParamType type) => type switch
    {
        ParamType.Bool => value != 0 ? "true" : "false",
        ParamType.Int => ((long)value).ToString(CultureInfo.InvariantCulture),
        _ => FormatFloat(value),
    };

    private static string FormatFloat(double value)
    {
        string text = value.ToString("R", CultureInfo.InvariantCulture);
        return text.IndexOfAny(new[] { '.', 'E', 'e' }) >= 0 ? text : text + ".0";
    }
}

/// <summary>A constant. Booleans are stored as 0/1 so that all literals share one equatable shape.</summary>
public sealed record Literal(ParamType Type, double Value) : Expr
{
    public static Literal Int(long value) => new(ParamType.Int, value);

    public static Literal Float(double value) => new(ParamType.Float, value);

    public static Literal Bool(bool value) => new(ParamType.Bool, value ? 1 : 0);

    public override string ToString() => Format(Value, Type);
}

/// <summary>A reference to a strategy param by name.</summary>
public sealed record ParamRef(string Name) : Expr
{
    public override string ToString() => Name;
}

/// <summary>A reference to a strategy state whose current value is read each step (e.g. an adaptive draft length).</summary>
public sealed record StateRef(string Name) : Expr
{
    public override string ToString() => Name;
}
