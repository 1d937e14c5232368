using System.Runtime.CompilerServices;
using Pardec.Runtime.Primitives.State;

namespace Pardec.Constraints.Tests;

/// <summary>
/// The allocation tests here decode the same request twice and expect the second decode to reach only constraint
/// states the first one cached, which needs the library's cost-aware lengths to choose the same drafts both times:
/// they price steps by their prior curve in this suite, not by measured (machine-timed) step times.
/// </summary>
internal static class PriorOnlyCosts
{
    [ModuleInitializer]
    internal static void Set() => AppContext.SetSwitch(CostAwareLength.PriorOnlySwitch, true);
}
