using System.Buffers.Binary;
using System.Text;

namespace Pardec.Runtime.Loading;

/// <summary>ggml tensor types Pardec reads (ggml.h's <c>enum ggml_type</c>; values are the file's).</summary>
public enum GgmlType : uint
{
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, BF16 = 30,
}

/// <summary>One tensor of a GGUF file: its ggml dims (<c>ne[0]</c> the fastest-varying) and where its data starts.</summary>
public sealed record GgufTensorInfo(string Name, long[] Dims, GgmlType Type, long Offset)
{
    /// <summary>The shape as torch writes it (row-major): the ggml dims reversed, so a weight <c>[out, in]</c>.</summary>
    public long[] Shape => Dims.Reverse().ToArray();
    public long Elements => Dims.Aggregate(1L, (a, d) => a * d);
    public long Bytes => GgufFile.ByteSize(Type, Elements, Name);
}

/// <summary>
/// A GGUF file (llama.cpp's single-file model format, version 2 or 3): the metadata key/values, the tensor directory and
/// the offset of the aligned data section. Written here because no served .NET package reads GGUF (the NuGet list
/// served to this project has none; checked 2026-12). The layout follows ggml's <c>docs/gguf.md</c>: magic "GGUF",
/// version, tensor and key counts, typed key/values, tensor infos, then the data at <c>general.alignment</c> (default 32).
/// Values: integers, floats, bools and strings as themselves, arrays as <c>object[]</c> (strings as <c>string[]</c>).
/// </summary>
public sealed class GgufFile
{
    public const uint Magic = 0x46554747; // "GGUF" little-endian
    public const int DefaultAlignment = 32;

    private GgufFile(string path, uint version, Dictionary<string, object> metadata, Dictionary<string, GgufTensorInfo> tensors, long dataStart)
    {
        Path = path; Version = version; Metadata = metadata; Tensors = tensors; DataStart = dataStart;
    }

    public string Path { get; }
    public uint Version { get; }
    public IReadOnlyDictionary<string, object> Metadata { get; }
    public IReadOnlyDictionary<string, GgufTensorInfo> Tensors { get; }
    public long DataStart { get; }

    /// <summary>True for a path to an existing file that starts with the GGUF magic.</summary>
    public static bool IsGguf(string path)
    {
        if (!File.Exists(path)) return false;
        using var f = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        return f.Read(magic) == 4 && BinaryPrimitives.ReadUInt32LittleEndian(magic) == Magic;
    }

    /// <summary>Reads the header; every problem is a <see cref="ModelLoadException"/> naming the file and the key or tensor.</summary>
    public static GgufFile Open(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException(path, null, "file not found");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var r = new BinaryReader(stream, Encoding.UTF8);
        string? at = null;
        try
        {
            if (r.ReadUInt32() != Magic) throw new ModelLoadException(path, null, "not a GGUF file (magic is not 'GGUF')");
            uint version = r.ReadUInt32();
            if (version is not (2 or 3)) throw new ModelLoadException(path, null, $"GGUF version {version} is not supported (2 and 3 are)");
            long tensorCount = checked((long)r.ReadUInt64()), kvCount = checked((long)r.ReadUInt64());
            var metadata = new Dictionary<string, object>(StringComparer.Ordinal);
            for (long i = 0; i < kvCount; i++)
            {
                at = $"metadata entry {i}";
                string key = ReadString(r);
                at = key;
                metadata[key] = ReadValue(r, r.ReadUInt32(), path, key);
            }
            var tensors = new Dictionary<string, GgufTensorInfo>(StringComparer.Ordinal);
            for (long i = 0; i < tensorCount; i++)
            {
                at = $"tensor info {i}";
                string name = ReadString(r);
                at = name;
                uint dims = r.ReadUInt32();
                if (dims is 0 or > 4) throw new ModelLoadException(path, name, $"{dims} dimensions (GGUF tensors have 1 to 4)");
                var ne = new long[dims];
                for (int d = 0; d < dims; d++) ne[d] = checked((long)r.ReadUInt64());
                uint type = r.ReadUInt32();
                long offset = checked((long)r.ReadUInt64());
                tensors[name] = new GgufTensorInfo(name, ne, (GgmlType)type, offset);
            }
            at = null;
            long alignment = metadata.TryGetValue("general.alignment", out var a) ? Convert.ToInt64(a) : DefaultAlignment;
            long dataStart = (stream.Position + alignment - 1) / alignment * alignment;
            foreach (var t in tensors.Values)
            {
                if (t.Offset % alignment != 0) throw new ModelLoadException(path, t.Name, $"data offset {t.Offset} is not aligned to {alignment}");
                if (dataStart + t.Offset + t.Bytes > stream.Length)
                    throw new ModelLoadException(path, t.Name, $"truncated: {t.Type} [{string.Join(", ", t.Dims)}] needs {t.Bytes} bytes at {dataStart + t.Offset}, the file has {stream.Length}");
            }
            return new GgufFile(path, version, metadata, tensors, dataStart);
        }
        catch (EndOfStreamException e) { throw new ModelLoadException(path, at, "truncated header", e); }
        catch (OverflowException e) { throw new ModelLoadException(path, at, "corrupt header: a count or size is out of range", e); }
    }

    /// <summary>Bytes of <paramref name="elements"/> values of <paramref name="type"/> (block types in whole blocks).</summary>
    public static long ByteSize(GgmlType type, long elements, string? name = null)
    {
        var (block, bytes) = BlockLayout(type) ?? throw new ModelLoadException("GGUF", name, $"ggml type {type} ({(uint)type}) is not one Pardec reads (F32, F16, BF16, Q8_0, Q4_0)");
        if (elements % block != 0) throw new ModelLoadException("GGUF", name, $"{elements} values are not whole {type} blocks of {block}");
        return elements / block * bytes;
    }

    /// <summary>Values per block and bytes per block, for the types Pardec reads.</summary>
    public static (int Block, int Bytes)? BlockLayout(GgmlType type) => type switch
    {
        GgmlType.F32 => (1, 4),
        GgmlType.F16 or GgmlType.BF16 => (1, 2),
        GgmlType.Q8_0 => (32, 34),  // f16 d, int8 q[32]: x = d * q
        GgmlType.Q4_0 => (32, 18),  // f16 d, uint8 qs[16]: x[j] = d * ((qs[j] & 15) - 8), x[j + 16] = d * ((qs[j] >> 4) - 8)
        _ => null,
    };

    /// <summary>The raw bytes of a tensor's data.</summary>
    public byte[] ReadBytes(GgufTensorInfo tensor)
    {
        var data = new byte[tensor.Bytes];
        using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        stream.Seek(DataStart + tensor.Offset, SeekOrigin.Begin);
        stream.ReadExactly(data);
        return data;
    }

    public string? String(string key) => Metadata.TryGetValue(key, out var v) ? v as string : null;

    public long? Integer(string key) => Metadata.TryGetValue(key, out var v) && v is not (string or object[] or string[] or float or double or bool) ? Convert.ToInt64(v) : null;

    /// <summary>A number as a double; a float32 value is read through its shortest decimal form (1e-5, not 9.99999974737875e-6),
    /// which is what the converter had in config.json.</summary>
    public double? Number(string key) => !Metadata.TryGetValue(key, out var v) || v is string or object[] or string[] or bool ? null
        : v is float f ? double.Parse(f.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture)
        : Convert.ToDouble(v);

    private static string ReadString(BinaryReader r)
    {
        long length = checked((long)r.ReadUInt64());
        if (length > 1 << 30) throw new OverflowException();
        return Encoding.UTF8.GetString(r.ReadBytes((int)length));
    }

    private static object ReadValue(BinaryReader r, uint type, string path, string key) => type switch
    {
        0 => r.ReadByte(),
        1 => r.ReadSByte(),
        2 => r.ReadUInt16(),
        3 => r.ReadInt16(),
        4 => r.ReadUInt32(),
        5 => r.ReadInt32(),
        6 => r.ReadSingle(),
        7 => r.ReadByte() != 0,
        8 => ReadString(r),
        9 => ReadArray(r, path, key),
        10 => r.ReadUInt64(),
        11 => r.ReadInt64(),
        12 => r.ReadDouble(),
        _ => throw new ModelLoadException(path, key, $"unknown GGUF value type {type}"),
    };

    private static object ReadArray(BinaryReader r, string path, string key)
    {
        uint itemType = r.ReadUInt32();
        long n = checked((long)r.ReadUInt64());
        if (n > int.MaxValue) throw new OverflowException();
        if (itemType == 8)
        {
            var strings = new string[n];
            for (long i = 0; i < n; i++) strings[i] = ReadString(r);
            return strings;
        }
        var items = new object[n];
        for (long i = 0; i < n; i++) items[i] = ReadValue(r, itemType, path, key);
        return items;
    }
}
