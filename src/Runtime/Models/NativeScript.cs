using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using TorchSharp;

namespace Pardec.Runtime.Models;

/// <summary>
/// One argument of a TorchScript call as LibTorchSharp's <c>THSJIT_*_Invoke</c> reads it (its <c>TensorOrScalar</c>):
/// a tensor handle, or a list (<see cref="TypeCode"/> 5) whose <see cref="Handle"/> points at <see cref="ArrayIndex"/>
/// more arguments.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ScriptArgument
{
    public long TypeCode;
    public long ArrayIndex;
    public nint Handle;

    public static ScriptArgument Of(torch.Tensor tensor) => new() { TypeCode = 0, ArrayIndex = -1, Handle = tensor.Handle };

    public static unsafe ScriptArgument List(ScriptArgument* items, int count) => new() { TypeCode = 5, ArrayIndex = count, Handle = (nint)items };
}

/// <summary>
/// A TorchScript compilation unit called straight through LibTorchSharp's C entry points, without TorchSharp's
/// <c>CompilationUnit.invoke</c>: that boxes the arguments into an <c>object[]</c>, builds managed lists of handles and
/// a delegate per call, and wraps every result in a new <see cref="torch.Tensor"/> — about 3.4 KB of garbage per
/// forward. Here the arguments are blittable structs the caller puts on its stack, the method name is a native UTF-8
/// string made once, and results land in a native per-thread buffer, so a call that returns nothing (a function that
/// writes into caller-owned outputs) allocates no managed memory at all.
/// </summary>
/// <remarks>
/// Binds to the same <c>libLibTorchSharp</c> TorchSharp loads (same name, same probing, already in the process), and
/// checks errors through TorchSharp's own <see cref="torch.CheckForErrors"/>. The argument layout and the result
/// protocol are LibTorchSharp's (<c>THSJIT.cpp</c>, TorchSharp 0.107.0, pinned in Directory.Packages.props);
/// <c>ScriptedForwardTests</c> holds results through this path bit-identical to the eager modules.
/// </remarks>
internal sealed unsafe class NativeScript
{
    private const string Library = "LibTorchSharp";

    [DllImport(Library)]
    private static extern nint THSJIT_compile(byte* script);

    [DllImport(Library)]
    private static extern void THSJIT_CompilationUnit_Invoke(nint unit, byte* method, ScriptArgument* args, int length,
        delegate* unmanaged[Cdecl]<int, nuint, ScriptArgument*> allocator, sbyte* typeCode, int index);

    // Result type codes (LibTorchSharp's ReturnHelper).
    public const sbyte ReturnsTensorList = 3;
    public const sbyte ReturnsNone = 8;

    private readonly nint _unit; // lives for the process, as the compiled source does

    public NativeScript(string source)
    {
        var bytes = Encoding.UTF8.GetBytes(source + "\n\0");
        fixed (byte* p = bytes) _unit = THSJIT_compile(p);
        if (_unit == 0)
        {
            torch.CheckForErrors();
            throw new InvalidOperationException("TorchScript compilation returned no compilation unit and no error.");
        }
    }

    /// <summary>A method name as the native UTF-8 string calls take, made once per name for the process.</summary>
    public static byte* Name(string method)
    {
        var bytes = Encoding.UTF8.GetBytes(method + "\0");
        var p = (byte*)NativeMemory.Alloc((nuint)bytes.Length);
        bytes.CopyTo(new Span<byte>(p, bytes.Length));
        return p;
    }

    /// <summary>
    /// Calls <paramref name="method"/> with <paramref name="args"/>. Returns the result's type code; a tensor list's
    /// handles are in <see cref="Results"/> (this thread's, valid until its next call), owned by the caller.
    /// The caller keeps every tensor whose handle is in <paramref name="args"/> alive across the call.
    /// </summary>
    public sbyte Invoke(byte* method, ScriptArgument* args, int length)
    {
        sbyte typeCode = 0;
        t_resultCount = 0;
        THSJIT_CompilationUnit_Invoke(_unit, method, args, length, &AllocateResults, &typeCode, 0);
        torch.CheckForErrors();
        return typeCode;
    }

    /// <summary>This thread's result slots from its last <see cref="Invoke"/>.</summary>
    public static ReadOnlySpan<ScriptArgument> Results => new(t_results, t_resultCount);

    [ThreadStatic] private static ScriptArgument* t_results;
    [ThreadStatic] private static int t_resultCapacity;
    [ThreadStatic] private static int t_resultCount;

    // LibTorchSharp asks for room for each result (list) it returns; one per-thread native buffer, grown when needed
    // (a forward returns at most two tensors, so it is allocated once per thread). Never freed: a few dozen bytes per
    // thread that ever ran a compiled forward.
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static ScriptArgument* AllocateResults(int index, nuint length)
    {
        int count = (int)length;
        if (count > t_resultCapacity)
        {
            int capacity = Math.Max(4, count);
            t_results = (ScriptArgument*)NativeMemory.Realloc(t_results, (nuint)(capacity * sizeof(ScriptArgument)));
            t_resultCapacity = capacity;
        }
        t_resultCount = count;
        return t_results;
    }
}

/// <summary>A tensor's data pointer (storage offset applied), from the same LibTorchSharp entry TorchSharp's <c>bytes</c> uses,
/// for strided CPU views that <c>bytes</c> refuses (it requires contiguity).</summary>
internal static class NativeTensor
{
    [DllImport("LibTorchSharp")]
    private static extern nint THSTensor_data(nint handle);

    public static nint Data(torch.Tensor tensor)
    {
        nint data = THSTensor_data(tensor.Handle);
        if (data == 0) torch.CheckForErrors();
        GC.KeepAlive(tensor);
        return data;
    }
}
