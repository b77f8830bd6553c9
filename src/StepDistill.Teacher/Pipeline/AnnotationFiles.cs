using System.Text.Json.Nodes;
using StepDistill.Data;

namespace StepDistill.Teacher.Pipeline;

/// <summary>One input line: its id, text, optional gold label and every original field (kept in the output).</summary>
public sealed record InputRecord(int Line, string Id, string Input, string? Label, JsonObject Fields);

/// <summary>Reads and checks annotation input JSONL with Core's <see cref="Jsonl"/> reader (its errors and id rule).</summary>
public static class InputReader
{
    /// <summary>
    /// Reads the whole input JSONL, checking every line; errors name the file and line. The <c>id</c> follows
    /// <see cref="Jsonl.IdOrLine"/> (a record without one gets its line number, written into its output record).
    /// </summary>
    public static List<InputRecord> Read(string path)
    {
        if (!File.Exists(path)) throw new StepDistillException($"input file not found: {path}");
        var list = new List<InputRecord>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        // Strict UTF-8: bytes that are not text must not reach a paid prompt as replacement characters.
        foreach (var (line, root) in Jsonl.Records(path, Utf8Text.ReadFile(path)))
        {
            var id = Jsonl.IdOrLine(path, line, root);
            var input = Jsonl.OptionalString(path, line, root, "input")
                ?? throw Jsonl.Error(path, line, "missing required string field 'input'");
            // Gold labels of numeric tasks are often numbers.
            var label = Jsonl.OptionalScalar(path, line, root, "label");
            Jsonl.CheckUnique(seen, id, path, line);
            var fields = JsonObject.Create(root.Clone())!;
            if (!fields.ContainsKey("id")) fields.Insert(0, "id", id);
            list.Add(new InputRecord(line, id, input, label, fields));
        }
        return list;
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
            (RepairedTornLine, DroppedFailed) = ReadExisting(path, dropFailed, ExistingIds);
        }
        _stream = FileOps.OpenAppend(path);
    }

    /// <summary>Collects the ids of an existing output; drops a torn last line (and failed records when asked).</summary>
    static (bool Torn, int Dropped) ReadExisting(string path, bool dropFailed, HashSet<string> ids)
    {
        var bytes = File.ReadAllBytes(path);
        var keep = bytes.Length;
        while (keep > 0 && bytes[keep - 1] != (byte)'\n') keep--;
        var torn = keep != bytes.Length;
        var kept = new System.Text.StringBuilder();
        var dropped = 0;
        try
        {
            foreach (var (line, root) in Jsonl.Records(path, Utf8Text.Decode(path, bytes.AsSpan(0, keep))))
            {
                var id = Jsonl.OptionalScalar(path, line, root, "id") ?? throw Jsonl.Error(path, line, "record has no 'id'");
                if (dropFailed && Jsonl.OptionalScalar(path, line, root, "status") == AnnotationStatus.Failed)
                {
                    dropped++;
                    continue;
                }
                ids.Add(id);
                kept.Append(root.GetRawText()).Append('\n');
            }
        }
        catch (StepDistillException e)
        {
            throw new StepDistillException($"{e.Message} (in the existing output; fix or remove the file)", e);
        }
        // Replaced atomically: a crash here leaves either the old or the new file.
        if (torn || dropped > 0) FileOps.WriteAllText(path, kept.ToString());
        return (torn, dropped);
    }

    public async Task WriteAsync(JsonObject record, CancellationToken ct)
    {
        var bytes = Jsonl.Line(w => record.WriteTo(w));
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
