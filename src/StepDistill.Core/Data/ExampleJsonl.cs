using System.Text.Json;
using StepDistill.Evaluation;

namespace StepDistill.Data;

/// <summary>
/// Our own JSONL format (docs/data.md): one object per line with <c>input</c> (required string) and the
/// optional strings <c>id</c>, <c>label</c>, <c>rationale</c>, <c>teacher_label</c>. Unknown keys are
/// ignored. A record whose <c>status</c> is present and not <c>"ok"</c> (written by the teacher's
/// <c>annotate</c>) has no usable rationale or teacher label. Optional <c>task</c>/<c>metric</c> hints
/// may appear on any line, or alone on a header line with no <c>input</c>; all that appear must agree.
/// </summary>
public static class ExampleJsonl
{
    /// <summary>What the reader found in a file.</summary>
    internal sealed record Content(IReadOnlyList<Example> Examples, TaskKind? Task, MetricKind? Metric);

    internal static Content Parse(string path, string text)
    {
        var examples = new List<Example>();
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        TaskKind? task = null;
        MetricKind? metric = null;
        int taskLine = 0, metricLine = 0;
        var first = true;
        foreach (var (number, line) in TextFiles.Lines(text))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = ParseLine(path, number, line);
            var root = doc.RootElement;
            var hasInput = root.TryGetProperty("input", out _);

            if (root.TryGetProperty("task", out _))
            {
                var name = OptionalString(path, number, root, "task");
                if (!TaskKinds.TryFromName(name, out var k))
                    throw Error(path, number, $"unknown task '{name}' (expected svamp, cqa, anli1 or esnli)");
                if (task is { } prev && prev != k)
                    throw Error(path, number, $"task '{name}' differs from the task given on line {taskLine}");
                (task, taskLine) = (k, number);
            }
            if (root.TryGetProperty("metric", out _))
            {
                var name = OptionalString(path, number, root, "metric");
                if (!MetricKinds.TryParse(name, out var m))
                    throw Error(path, number, $"unknown metric '{name}' (expected exact or equation)");
                if (metric is { } prev && prev != m)
                    throw Error(path, number, $"metric '{name}' differs from the metric given on line {metricLine}");
                (metric, metricLine) = (m, number);
            }
            var header = first && !hasInput && (task is not null || metric is not null);
            first = false;
            if (header) continue;

            var input = OptionalString(path, number, root, "input")
                ?? throw Error(path, number, "missing required string field 'input'");
            if (input.Length == 0) throw Error(path, number, "field 'input' is empty");
            var id = OptionalId(path, number, root) ?? number.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!ids.TryAdd(id, number))
                throw Error(path, number, $"duplicate id '{id}' (first on line {ids[id]})");
            var label = OptionalString(path, number, root, "label");
            var rationale = OptionalString(path, number, root, "rationale");
            var teacherLabel = OptionalString(path, number, root, "teacher_label");
            if (root.TryGetProperty("status", out var status) &&
                !(status.ValueKind == JsonValueKind.String && status.ValueEquals(AnnotationStatus.Ok)))
            {
                // A failed annotation: whatever partial rationale it holds must not be trained on.
                rationale = null;
                teacherLabel = null;
            }
            examples.Add(new Example(id, input, label, rationale, teacherLabel));
        }
        if (examples.Count == 0) throw new StepDistillException($"{path}: no examples (the file is empty)");
        return new Content(examples, task, metric);
    }

    /// <summary>
    /// Writes <paramref name="examples"/> in this format (null fields omitted, UTF-8, LF). With
    /// <paramref name="metric"/>, a header line <c>{"metric": ...}</c> comes first.
    /// </summary>
    public static async Task WriteAsync(string path, IEnumerable<Example> examples, MetricKind? metric = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        await using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        var buffer = new MemoryStream();
        if (metric is { } m)
        {
            using (var w = new Utf8JsonWriter(buffer, JsonLines.WriterOptions))
            {
                w.WriteStartObject();
                w.WriteString("metric", MetricKinds.Name(m));
                w.WriteEndObject();
            }
            buffer.WriteByte((byte)'\n');
        }
        foreach (var ex in examples)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using (var w = new Utf8JsonWriter(buffer, JsonLines.WriterOptions))
            {
                w.WriteStartObject();
                w.WriteString("id", ex.Id);
                w.WriteString("input", ex.Input);
                if (ex.Label is not null) w.WriteString("label", ex.Label);
                if (ex.Rationale is not null) w.WriteString("rationale", ex.Rationale);
                if (ex.TeacherLabel is not null) w.WriteString("teacher_label", ex.TeacherLabel);
                w.WriteEndObject();
            }
            buffer.WriteByte((byte)'\n');
            if (buffer.Length > 1 << 16)
            {
                await stream.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken).ConfigureAwait(false);
                buffer.SetLength(0);
            }
        }
        await stream.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken).ConfigureAwait(false);
    }

    internal static JsonDocument ParseLine(string path, int number, string line)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw Error(path, number, $"malformed JSON at byte {e.BytePositionInLine ?? 0} ({StripLocation(e.Message)})", e);
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw Error(path, number, "expected a JSON object");
        }
        return doc;
    }

    /// <summary>A string field, null when absent or JSON null; any other type is an error.</summary>
    internal static string? OptionalString(string path, int number, JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String)
            throw Error(path, number, $"field '{name}' must be a string, not {Kind(v)}");
        return v.GetString();
    }

    static string? OptionalId(string path, int number, JsonElement obj)
    {
        if (obj.TryGetProperty("id", out var v) && v.ValueKind == JsonValueKind.Number) return v.GetRawText();
        return OptionalString(path, number, obj, "id");
    }

    internal static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.Null => "null",
        _ => v.ValueKind.ToString().ToLowerInvariant(),
    };

    internal static StepDistillException Error(string path, int line, string message, Exception? inner = null) =>
        new($"{path}:{line}: {message}", inner);

    // System.Text.Json appends "LineNumber: 0 | BytePositionInLine: n."; our message already names the line.
    internal static string StripLocation(string message)
    {
        var i = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (i < 0 ? message : message[..i]).TrimEnd();
    }
}
