using System.Runtime.CompilerServices;
using Pardec.Runtime.Primitives.State;

namespace Pardec.Strategies.Tests;

/// <summary>
/// This suite compares engines step for step and seeded sampled decodes draw for draw, so the library's cost-aware
/// lengths price steps by their prior curve here, not by measured times (which would make the choices, and with them
/// step counts and sampled draws, follow the machine's timing). <see cref="CostAwareLengthTests"/> runs the measured
/// path on a scripted clock and on the system clock.
/// </summary>
internal static class PriorOnlyCosts
{
    [ModuleInitializer]
    internal static void Set() => AppContext.SetSwitch(CostAwareLength.PriorOnlySwitch, true);
}
