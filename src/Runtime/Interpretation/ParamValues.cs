using System.Globalization;
using Pardec.Dsl.Plan;

namespace Pardec.Runtime.Interpretation;

/// <summary>
/// A strategy's parameter values at run time: the declared defaults, overridden by name. Every override is checked
/// against the declared type and range, with a message that names the parameter and what it accepts.
/// </summary>
public sealed class ParamValues
{
    private readonly Dictionary<string, double> _values = new(StringComparer.Ordinal);

    public ParamValues(DecodePlan plan, IReadOnlyDictionary<string, string>? overrides = null)
    {
        Strategy = plan.Name;
        foreach (var p in plan.Params) _values[p.Name] = p.Default.Value;
        if (overrides is null) return;
        foreach (var (name, text) in overrides)
        {
            var param = plan.FindParam(name) ?? throw new ArgumentException(
                $"Strategy '{plan.Name}' has no parameter '{name}'. Its parameters: {(plan.Params.IsEmpty ? "none" : string.Join(", ", plan.Params.Select(p => p.Name)))}.");
            _values[name] = Parse(param, text);
            if (!param.Runtime && _values[name] != param.Default.Value) ResizesProposals = true;
        }
    }

    /// <summary>
    /// True when a build-time param was given a value other than its default. The plan's worst-case widths were
    /// computed from the defaults, so an engine must then size its trees for the declared <c>max_width</c> instead.
    /// </summary>
    public bool ResizesProposals { get; }

    /// <summary>The strategy's name, for messages.</summary>
    public string Strategy { get; }

    public double this[string name] => _values[name];

    public double Evaluate(Expr expr) => expr switch
    {
        Literal l => l.Value,
        ParamRef p => _values.TryGetValue(p.Name, out var v) ? v : throw new InvalidOperationException($"Unknown parameter '{p.Name}'."),
        _ => throw new NotSupportedException($"Cannot evaluate {expr} before the decode runs."),
    };

    public int Int(Expr expr) => checked((int)Evaluate(expr));
    public int Int(Expr? expr, int fallback) => expr is null ? fallback : Int(expr);
    public double Float(Expr? expr, double fallback) => expr is null ? fallback : Evaluate(expr);

    public static double Parse(ParamPlan param, string text)
    {
        double value;
        switch (param.Type)
        {
            case ParamType.Int:
                if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long l))
                    throw new ArgumentException($"Parameter '{param.Name}' is an int; '{text}' is not.");
                value = l;
                break;
            case ParamType.Bool:
                if (!bool.TryParse(text, out bool b)) throw new ArgumentException($"Parameter '{param.Name}' is a bool (true or false); '{text}' is not.");
                value = b ? 1 : 0;
                break;
            default:
                if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
                    throw new ArgumentException($"Parameter '{param.Name}' is a float; '{text}' is not.");
                break;
        }
        if (param.Range is { } range && !range.Contains(value))
            throw new ArgumentException($"Parameter '{param.Name}' = {text} is outside its range {range.Format(param.Type)}.");
        return value;
    }
}
