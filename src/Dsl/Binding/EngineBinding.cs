using System.Collections.Generic;
using System.Linq;
using Pardec.Dsl.Collections;
using Pardec.Dsl.Plan;

namespace Pardec.Dsl.Binding;

/// <summary>
/// A strategy bound as the engine of a draft: its lowered plan (what lowering resolves the staged primitive from) and
/// which outer model plays each of its model roles. Its verify target is the draft's own model.
/// </summary>
public sealed class EngineBinding
{
    internal EngineBinding(string name, DecodePlan plan, IReadOnlyList<RoleBinding> written)
    {
        Name = name;
        Plan = plan;
        Written = written;
    }

    public string Name { get; }

    public DecodePlan Plan { get; }

    /// <summary>The role bindings as written (<c>Inner(draft: tiny)</c>), which the plan prints.</summary>
    public IReadOnlyList<RoleBinding> Written { get; }

    /// <summary>Every causal role of the engine to the outer model that plays it (the verify target included).</summary>
    public Dictionary<string, string> Roles { get; } = new();

    public EngineRef Ref => new(Name, Written.ToEquatableArray());
}
