using System.Reflection;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Primitives;
using Xunit;

namespace Pardec.Runtime.Tests;

/// <summary>
/// The runtime has one sampler and one stop/budget rule, shared by every canvas. These tests read the runtime
/// assembly's IL and fail when a second copy comes back: a draw from torch's multinomial or a seeded host stream
/// outside <see cref="NodeSampler"/>, or stop tokens read from the options outside <see cref="StopRule"/>.
/// </summary>
public sealed class OneSamplerOneStopRuleTests
{
    private static readonly Assembly Runtime = typeof(NodeSampler).Assembly;

    [Fact]
    public void Only_the_one_sampler_draws_random_tokens()
    {
        // (A torch generator for random weights is not a token sampler: CausalLM.CreateRandom may make one.)
        var callers = Callers(m => m.Name == "multinomial" && m.DeclaringType?.Namespace == "TorchSharp"
                                   || m is ConstructorInfo && m.DeclaringType?.Name == "HostRandom");
        Assert.NotEmpty(callers); // the scan sees the sampler itself
        Assert.All(callers, c => Assert.True(c == typeof(NodeSampler), $"{c.FullName} draws random tokens itself; sample through NodeSampler"));
    }

    [Fact]
    public void Only_the_one_stop_rule_reads_the_stop_tokens()
    {
        var stopTokens = typeof(GenerationOptions).GetMethod(nameof(GenerationOptions.StopTokenIds))!;
        var callers = Callers(m => m == stopTokens);
        Assert.Equal([typeof(StopRule)], callers);
    }

    [Fact]
    public void There_is_one_sampler_type()
    {
        var samplers = Runtime.GetTypes().Where(t => t.Name.EndsWith("Sampler", StringComparison.Ordinal)).ToArray();
        Assert.Equal([typeof(NodeSampler)], samplers);
    }

    // The runtime types (nested types, lambdas and iterators folded into their outermost type) whose IL calls a method
    // matching the predicate. The IL is scanned for call/callvirt/newobj/ldftn tokens; a token that resolves to no method
    // is skipped.
    private static HashSet<Type> Callers(Func<MethodBase, bool> matches)
    {
        var found = new HashSet<Type>();
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var type in Runtime.GetTypes())
        {
            var methods = type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All));
            foreach (var method in methods)
            {
                byte[]? il;
                try { il = method.GetMethodBody()?.GetILAsByteArray(); }
                catch (BadImageFormatException) { continue; }
                if (il is null) continue;
                for (int i = 0; i + 4 < il.Length; i++)
                {
                    bool call = il[i] is 0x28 or 0x6F or 0x73 || il[i] == 0x06 && i > 0 && il[i - 1] == 0xFE;
                    if (!call) continue;
                    int token = BitConverter.ToInt32(il, i + 1);
                    if ((token >> 24) is not (0x06 or 0x0A or 0x2B)) continue; // MethodDef, MemberRef, MethodSpec
                    MethodBase? target;
                    try { target = type.Module.ResolveMethod(token, type.IsGenericType ? type.GetGenericArguments() : null, method.IsGenericMethod ? method.GetGenericArguments() : null); }
                    catch (Exception e) when (e is ArgumentException or BadImageFormatException or TypeLoadException) { continue; }
                    if (target is not null && matches(target)) found.Add(Outermost(type));
                }
            }
        }
        return found;
    }

    private static Type Outermost(Type type)
    {
        while (type.DeclaringType is { } outer) type = outer;
        return type;
    }
}
