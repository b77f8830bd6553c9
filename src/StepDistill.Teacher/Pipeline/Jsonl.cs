using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using StepDistill.Data;

namespace StepDistill.Teacher.Pipeline;

/// <summary>One input line: its id, text, optional gold label and every original field (kept in the output).</summary>
public sealed record InputRecord(int Line, string Id, string Input, string? Label, JsonObject Fields);

/// <summary>Reads and checks annotation input JSONL.</summary>
public static class InputReader
{
    /// <summary>Reads the whole input JSONL, checking every line; errors name the file and line.</summary>
    public static List<InputRecord> Read(string path)
    {
        if (!File.Exists(path)) throw new StepDistillException($"input file not found: {path}");
        var list = new List<InputRecord>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var lineNo = 0;
        // Strict UTF-8: bytes that are not text must not reach a paid prompt as replacement characters.
        using var reader = new StringReader(StepDistill.Data.Utf8Text.ReadFile(path));
        while (reader.ReadLine() is { } line)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonObject obj;
            try
            {
                obj = JsonNode.Parse(line) as JsonObject ?? throw new StepDistillException($"{path} line {lineNo}: expected a JSON object");
            }
            catch (JsonException e)
            {
                // System.Text.Json appends "LineNumber: 0 | BytePositionInLine: n."; the line is ours already.
                var why = e.Message.Split(" LineNumber:", 2)[0].Trim();
                throw new StepDistillException($"{path} line {lineNo}: not valid JSON ({why})");
            }
            var id = Scalar(obj, "id", path, lineNo) ?? throw new StepDistillException($"{path} line {lineNo}: missing field 'id'");
            var input = obj["input"] is JsonValue v && v.TryGetValue<string>(out var s) ? s
                : throw new StepDistillException($"{path} line {lineNo}: field 'input' is missing or not a string");
            var label = Scalar(obj, "label", path, lineNo);
            if (seen.TryGetValue(id, out var first))
                throw new StepDistillException($"{path} line {lineNo}: duplicate id '{id}' (first on line {first})");
            seen[id] = lineNo;
            list.Add(new InputRecord(lineNo, id, input, label, obj));
        }
        return list;
    }

    /// <summary>A string or number field as text (ids and labels are sometimes numbers).</summary>
    static string? Scalar(JsonObject obj, string name, string path, int line)
    {
        var node = obj[name];
        if (node is null) return null;
        if (node is JsonValue v)
        {
            if (v.TryGetValue<string>(out var s)) return s;
            if (v.GetValueKind() == JsonValueKind.Number) return v.ToJsonString();
        }
        throw new StepDistillException($"{path} line {line}: field '{name}' must be a string or a number");
    }
}

/// <summary>
/// The output JSONL, appended one flushed line per record by a single writer. On open it repairs a torn last
/// line (a crash mid-write) and reports the ids already present, which a resumed run skips.
/// </summary>
internal sealed class OutputWriter : IAsyncDisposable
{
    readonly FileOps.AppendFile _stream;
    readonly SemaphoreSlim _gate = new(1, 1);

    public HashSet<string> ExistingIds { get; } = new(StringComparer.Ordinal);
    public bool RepairedTornLine { get; }
    public int DroppedFailed { get; }

    public OutputWriter(string path, bool dropFailed)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null)
        {
            FileOps.CreateDirectory(dir);
            FileOps.RemoveLeftovers(dir, Path.GetFileName(path));
        }
        if (File.Exists(path))
        {
            var bytes = File.ReadAllBytes(path);
            var keep = bytes.Length;
            while (keep > 0 && bytes[keep - 1] != (byte)'\n') keep--;
            RepairedTornLine = keep != bytes.Length;
            var kept = new StringBuilder();
            var lines = Encoding.UTF8.GetString(bytes, 0, keep).Split('\n');
            var changed = RepairedTornLine;
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].Length == 0) continue;
                JsonObject? obj;
                try { obj = JsonNode.Parse(lines[i]) as JsonObject; }
                catch (JsonException e) { throw new StepDistillException($"{path} line {i + 1}: existing output is not valid JSON ({e.Message}); fix or remove the file"); }
                string? id = obj?["id"] switch
                {
                    JsonValue v when v.TryGetValue<string>(out var s) => s,
                    JsonValue v => v.ToJsonString(),
                    _ => null,
                };
                if (id is null) throw new StepDistillException($"{path} line {i + 1}: existing output record has no 'id'");
                if (dropFailed && obj!["status"] is JsonValue sv && sv.TryGetValue<string>(out var st) && st == AnnotationStatus.Failed) { DroppedFailed++; changed = true; continue; }
                ExistingIds.Add(id);
                kept.Append(lines[i]).Append('\n');
            }
            if (changed)
            {
                // Replaced atomically: a crash here leaves either the old or the new file.
                FileOps.WriteAllText(path, kept.ToString());
            }
        }
        _stream = FileOps.OpenAppend(path);
    }

    public async Task WriteAsync(JsonObject record, CancellationToken ct)
    {
        var bytes = Encoding.UTF8.GetBytes(record.ToJsonString() + "\n");
        // Not cancellable once started: a half-written line is exactly what we must avoid.
        await _gate.WaitAsync(ct);
        try
        {
            await _stream.AppendAsync(bytes);
        }
        finally { _gate.Release(); }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _gate.Dispose();
    }
}
