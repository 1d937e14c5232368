using TorchSharp;

namespace Pardec.Runtime.Models;

/// <summary>
/// Constants passed to tensor ops, rooted for the life of the process.
/// </summary>
/// <remarks>
/// A C# number given where TorchSharp expects a <see cref="Scalar"/> (<c>t.fill_(true)</c>, <c>t * 0.5</c>,
/// <c>t.clamp_min(0)</c>, and inside TorchSharp itself <c>square()</c>, which is <c>pow(2)</c>) becomes a temporary
/// Scalar that nothing references once its native handle has been read. If a collection runs during the native call,
/// the Scalar's finaliser frees the c10::Scalar the op is still reading — "INTERNAL ASSERT FAILED at c10/core/Scalar.h"
/// or silently wrong values, and only when other threads allocate (decoders in parallel, a busy server). Hot paths use
/// these statics or a Scalar field; one-off code keeps its Scalar in a <c>using</c> local, which stays reachable.
/// </remarks>
internal static class Scalars
{
    public static readonly Scalar True = true;
    public static readonly Scalar Zero = 0;
    public static readonly Scalar One = 1.0;
    public static readonly Scalar NegativeInfinity = double.NegativeInfinity;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<long, Scalar> InverseSquareRoots = new();

    /// <summary>1 / sqrt(<paramref name="n"/>) (attention's score scale for head size n), one rooted Scalar per n.</summary>
    public static Scalar InverseSquareRoot(long n) => InverseSquareRoots.GetOrAdd(n, static d => 1.0 / Math.Sqrt(d));
}
