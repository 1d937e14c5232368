using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Loading;

/// <summary>One tensor's entry in a safetensors header: dtype, shape and byte range within the data section.</summary>
public sealed record SafetensorsEntry(string Name, ScalarType DType, long[] Shape, long Begin, long End);

/// <summary>
/// A validated safetensors file. The header is checked completely — length, JSON, dtypes, shapes, and every data
/// range against the file length — before any byte reaches native code, so a truncated or corrupt file is a
/// <see cref="ModelLoadException"/> naming the file and the tensor, never a native crash.
/// Format: 8-byte little-endian header length, a JSON header, raw little-endian tensor data.
/// </summary>
public sealed class SafetensorsFile
{
    // A header longer than this is corrupt (real headers of 100B-parameter models stay far below it).
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    private static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new()
    {
        ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2), ["BF16"] = (ScalarType.BFloat16, 2),
        ["F64"] = (ScalarType.Float64, 8), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    private readonly long _dataStart;

    private SafetensorsFile(string path, long dataStart, IReadOnlyDictionary<string, SafetensorsEntry> entries)
    {
        Path = path;
        _dataStart = dataStart;
        Entries = entries;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }

    /// <summary>Reads and validates the header.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException(path, null, "file not found");
        using var stream = File.OpenRead(path);
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw new ModelLoadException(path, null, $"truncated: {fileLength} bytes, shorter than the 8-byte header length");
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)MaxHeaderBytes || (long)headerLength > fileLength - 8)
            throw new ModelLoadException(path, null,
                $"corrupt or truncated: header length {headerLength} does not fit in a {fileLength}-byte file");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw new ModelLoadException(path, null, $"corrupt header: invalid JSON ({e.Message})", e); }
        var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException(path, null, "corrupt header: not a JSON object");
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__") continue;
                entries[property.Name] = ParseEntry(path, property.Name, property.Value, dataLength);
            }
        }
        return new SafetensorsFile(path, dataStart, entries);
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement e, long dataLength)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new ModelLoadException(path, name, "header entry is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new ModelLoadException(path, name, "header entry has no dtype");
        string dtype = dt.GetString()!;
        if (!DTypes.TryGetValue(dtype, out var info))
            throw new ModelLoadException(path, name, $"unsupported dtype '{dtype}'");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new ModelLoadException(path, name, "header entry has no shape");
        var shape = new long[sh.GetArrayLength()];
        long elements = 1;
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw new ModelLoadException(path, name, $"invalid shape dimension {d.GetRawText()}");
            shape[i++] = v;
            elements = checked(elements * v);
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2
            || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end))
            throw new ModelLoadException(path, name, "header entry has no valid data_offsets [begin, end]");
        if (begin < 0 || end < begin)
            throw new ModelLoadException(path, name, $"invalid data_offsets [{begin}, {end}]");
        if (end > dataLength)
            throw new ModelLoadException(path, name,
                $"truncated: data_offsets end {end} is beyond the {dataLength} bytes of tensor data in the file");
        if (end - begin != elements * info.Size)
            throw new ModelLoadException(path, name,
                $"data_offsets cover {end - begin} bytes but {dtype} [{string.Join(", ", shape)}] needs {elements * info.Size}");
        return new SafetensorsEntry(name, info.Type, shape, begin, end);
    }

    /// <summary>
    /// Reads one tensor into a new CPU tensor of its stored dtype, straight into the tensor's memory in chunks (no
    /// managed copy of the data: a multi-GB checkpoint is never held twice, and a tensor may exceed 2 GB).
    /// </summary>
    public unsafe Tensor Read(string name)
    {
        if (!Entries.TryGetValue(name, out var entry)) throw new ModelLoadException(Path, name, "tensor not found");
        var tensor = torch.empty(entry.Shape, entry.DType);
        long length = entry.End - entry.Begin;
        if (length == 0) return tensor;
        var data = (byte*)Models.NativeTensor.Data(tensor);
        using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        stream.Seek(_dataStart + entry.Begin, SeekOrigin.Begin);
        const int Chunk = 64 << 20;
        for (long done = 0; done < length;)
        {
            int n = (int)Math.Min(Chunk, length - done);
            try { stream.ReadExactly(new Span<byte>(data + done, n)); }
            catch (EndOfStreamException e) { tensor.Dispose(); throw new ModelLoadException(Path, name, "truncated: the file ends inside this tensor's data", e); }
            done += n;
        }
        GC.KeepAlive(tensor);
        return tensor;
    }

    /// <summary>Writes tensors (any device; copied to CPU) as a safetensors file with an 8-byte-aligned header.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        var names = new List<string>();
        var blobs = new List<byte[]>();
        var header = new MemoryStream();
        using (var w = new Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            long offset = 0;
            foreach (var (name, t) in tensors)
            {
                using var scope = torch.NewDisposeScope();
                var cpu = t.detach().cpu().contiguous();
                string dtype = DTypes.First(kv => kv.Value.Type == cpu.dtype).Key;
                byte[] data = cpu.bytes.ToArray();
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype);
                w.WriteStartArray("shape");
                foreach (long d in cpu.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + data.Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += data.Length;
                names.Add(name);
                blobs.Add(data);
            }
            w.WriteEndObject();
        }
        var headerBytes = header.ToArray().ToList();
        while (headerBytes.Count % 8 != 0) headerBytes.Add((byte)' ');
        using var file = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)headerBytes.Count);
        file.Write(len);
        file.Write(headerBytes.ToArray());
        foreach (var blob in blobs) file.Write(blob);
    }
}
