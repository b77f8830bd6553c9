using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace StepDistill.Student.Checkpoint;

/// <summary>
/// The safetensors format: 8-byte little-endian header length N, N bytes of JSON
/// (<c>name → {dtype, shape, data_offsets}</c> plus <c>__metadata__</c>), then raw little-endian tensor data.
/// </summary>
public static class Safetensors
{
    /// <summary>One tensor of the header.</summary>
    /// <param name="Name">The state-dict key.</param>
    /// <param name="Dtype">The safetensors dtype (<c>F32</c>, <c>BF16</c>, ...).</param>
    /// <param name="Shape">The tensor's shape.</param>
    /// <param name="Begin">Offset of its first byte in the data section.</param>
    /// <param name="End">Offset after its last byte.</param>
    public sealed record Entry(string Name, string Dtype, long[] Shape, long Begin, long End);

    static readonly Dictionary<string, (ScalarType Type, int Size)> Dtypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8), ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>Reads and validates the header; offsets in the entries are relative to the data area.</summary>
    public static (IReadOnlyList<Entry> Entries, long DataStart) ReadHeader(string path)
    {
        using var fs = OpenRead(path);
        Span<byte> lenBytes = stackalloc byte[8];
        if (fs.Read(lenBytes) != 8) throw new StepDistillException($"{path}: not a safetensors file (shorter than 8 bytes)");
        var headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLen == 0 || headerLen > 100_000_000 || (long)headerLen > fs.Length - 8)
            throw new StepDistillException($"{path}: not a safetensors file (header length {headerLen} for a {fs.Length}-byte file)");
        var header = new byte[headerLen];
        fs.ReadExactly(header);
        if (!System.Text.Unicode.Utf8.IsValid(header)) throw new StepDistillException($"{path}: safetensors header is not valid UTF-8");
        JsonObject json;
        try { json = JsonNode.Parse(header) as JsonObject ?? throw new StepDistillException($"{path}: safetensors header is not a JSON object"); }
        catch (JsonException e) { throw new StepDistillException($"{path}: safetensors header is not valid JSON: {e.Message}"); }
        var dataStart = 8 + (long)headerLen;
        var dataLen = fs.Length - dataStart;
        var entries = new List<Entry>();
        foreach (var (name, node) in json)
        {
            if (name == "__metadata__") continue;
            try
            {
                var dtype = node!["dtype"]!.GetValue<string>();
                var shape = node["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
                var offsets = node["data_offsets"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
                if (!Dtypes.TryGetValue(dtype, out var dt)) throw new StepDistillException($"{path}: tensor '{name}' has unsupported dtype {dtype}");
                if (shape.Any(x => x < 0)) throw new StepDistillException($"{path}: tensor '{name}' has a negative dimension in its shape " +
                    $"[{string.Join(", ", shape)}]");
                long expected;
                try { expected = checked(shape.Aggregate(1L, (a, b) => a * b) * dt.Size); }
                catch (OverflowException) { expected = -1; }
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[0] > offsets[1] || offsets[1] > dataLen || offsets[1] - offsets[0] != expected)
                    throw new StepDistillException($"{path}: tensor '{name}' has data_offsets [{string.Join(", ", offsets)}] that do not fit its shape " +
                        $"[{string.Join(", ", shape)}] ({dtype}) or the file");
                entries.Add(new Entry(name, dtype, shape, offsets[0], offsets[1]));
            }
            catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
            {
                throw new StepDistillException($"{path}: malformed header entry for tensor '{name}'");
            }
        }
        // Each byte belongs to one tensor: overlapping ranges mean a corrupt (or crafted) header.
        var ordered = entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin).ToList();
        for (var i = 1; i < ordered.Count; i++)
            if (ordered[i].Begin < ordered[i - 1].End)
                throw new StepDistillException($"{path}: tensors '{ordered[i - 1].Name}' and '{ordered[i].Name}' overlap (data_offsets " +
                    $"[{ordered[i - 1].Begin}, {ordered[i - 1].End}] and [{ordered[i].Begin}, {ordered[i].End}])");
        return (entries, dataStart);
    }

    /// <summary>Loads every tensor (CPU, the file's dtype).</summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        var (entries, dataStart) = ReadHeader(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var fs = OpenRead(path);
        try
        {
            foreach (var e in entries)
            {
                fs.Position = dataStart + e.Begin;
                var t = empty(e.Shape, Dtypes[e.Dtype].Type);
                result[e.Name] = t;
                fs.ReadExactly(t.bytes); // read straight into the tensor's storage (contiguous, CPU)
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Writes tensors (in name order) atomically, with <c>{"format": "pt"}</c> metadata as HF does.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = tensors.Keys.OrderBy(n => n, StringComparer.Ordinal).ToList();
        var header = new JsonObject();
        var meta = new JsonObject { ["format"] = "pt" };
        if (metadata != null) foreach (var (k, v) in metadata) meta[k] = v;
        header["__metadata__"] = meta;
        long offset = 0;
        foreach (var name in names)
        {
            var t = tensors[name];
            var dtype = Dtypes.First(kv => kv.Value.Type == t.dtype).Key;
            var len = t.numel() * Dtypes[dtype].Size;
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(t.shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + len),
            };
            offset += len;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (headerBytes.Length + 7) / 8 * 8;
        FileOps.Write(path, s =>
        {
            Span<byte> len8 = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len8, (ulong)padded);
            s.Write(len8);
            s.Write(headerBytes);
            for (var i = headerBytes.Length; i < padded; i++) s.WriteByte((byte)' ');
            foreach (var name in names)
            {
                using var c = tensors[name].detach().cpu().contiguous();
                s.Write(c.bytes);
            }
        });
    }

    static FileStream OpenRead(string path)
    {
        if (!File.Exists(path)) throw new StepDistillException($"{path}: file not found");
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
    }
}
