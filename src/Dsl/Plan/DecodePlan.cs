using System.Globalization;
using System.Linq;
using System.Text;
using Pardec.Dsl.Collections;

namespace Pardec.Dsl.Plan;

public enum Guarantee
{
    /// <summary>No claim: lossy rules are allowed.</summary>
    None,

    /// <summary>Output equals plain greedy decoding of the target (or, with rejection, plain sampling).</summary>
    Lossless,

    /// <summary>Output has the target's sampling distribution (speculative sampling).</summary>
    Distribution,
}

/// <summary>
/// The IR of one strategy: what the generator specialises and the interpreter executes.
/// Immutable, with value equality (collections included), and printed by <see cref="Print"/> in a
/// stable text form that is itself valid .pdec.
/// </summary>
public sealed record DecodePlan(
    string Name,
    string? Paper,
    Guarantee Guarantee,
    CanvasPlan Canvas,
    EquatableArray<ModelPlan> Models,
    EquatableArray<ParamPlan> Params,
    EquatableArray<StatePlan> States,
    StepPlan Step,
    EquatableArray<StopPlan> Stops,
    EquatableArray<DecodePlan> Engines = default,
    ConstraintPlan? Constraint = null)
{
    public ParamPlan? FindParam(string name) => Params.FirstOrDefault(p => p.Name == name);

    public ModelPlan? FindModel(string role) => Models.FirstOrDefault(m => m.Role == role);

    public StatePlan? FindState(string name) => States.FirstOrDefault(s => s.Name == name);

    public override string ToString() => Print();

    /// <summary>
    /// The stable multi-line text form ("\n" line ends, invariant culture): this strategy, then every strategy it runs as
    /// an engine (directly or through another engine), so the text compiles on its own and its first plan is this one.
    /// </summary>
    public string Print()
    {
        var b = new StringBuilder(PrintStrategy());
        foreach (DecodePlan engine in Engines)
        {
            b.Append('\n').Append(engine.PrintStrategy());
        }

        return b.ToString();
    }

    private string PrintStrategy()
    {
        var b = new StringBuilder();
        void Line(string indent, string text) => b.Append(indent).Append(text).Append('\n');

        Line(string.Empty, "strategy " + Name);
        if (Paper is not null)
        {
            Line("  ", "paper \"" + Paper.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"");
        }

        Line("  ", "guarantee " + Guarantee.ToString().ToLowerInvariant());
        Line("  ", "canvas " + Canvas);
        if (Canvas.Kind == CanvasKind.Masked)
        {
            Line("  ", "cache " + Canvas.Cache.ToString().ToLowerInvariant());
        }

        if (Constraint is not null)
        {
            Line("  ", "constrain " + Constraint);
        }

        foreach (ModelPlan model in Models)
        {
            Line("  ", "model " + model);
        }

        foreach (ParamPlan param in Params)
        {
            Line("  ", "param " + param);
        }

        foreach (StatePlan state in States)
        {
            Line("  ", "state " + state);
        }

        Line("  ", "step");
        switch (Step)
        {
            case CausalStepPlan causal:
                if (!causal.Proposers.IsEmpty)
                {
                    Line("    ", "propose " + string.Join(" + ", causal.Proposers));
                }

                Line("    ", "verify " + causal.Verify);
                Line("    ", "accept " + causal.Accept);
                foreach (UpdatePlan update in causal.Updates)
                {
                    Line("    ", "update " + update);
                }

                break;
            case MaskedStepPlan masked:
                Line("    ", "predict " + masked.Predict);
                Line("    ", "commit " + masked.Commit);
                if (masked.Block is not null)
                {
                    Line("    ", "block " + masked.Block);
                }

                foreach (UpdatePlan update in masked.Updates)
                {
                    Line("    ", "update " + update);
                }

                break;
        }

        if (!Stops.IsEmpty)
        {
            Line("  ", "stop " + string.Join(", ", Stops));
        }

        Line(string.Empty, "end");
        return b.ToString();
    }

    internal static string Args(params (string Name, object? Value)[] args) =>
        string.Join(", ", args.Where(a => a.Value is not null && a.Value is not false)
            .Select(a => a.Value is true ? a.Name : a.Name.Length == 0 ? Invariant(a.Value) : a.Name + ": " + Invariant(a.Value)));

    private static string Invariant(object? value) => System.Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty;
}
