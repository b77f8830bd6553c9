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
        var hints = new Hints(path);
        var first = true;
        foreach (var (number, root) in Jsonl.Records(path, text))
        {
            hints.Read(number, root);
            var header = first && !root.TryGetProperty("input", out _) && hints.Any;
            first = false;
            if (header) continue;
            examples.Add(ReadExample(path, number, root, ids));
        }
        if (examples.Count == 0) throw new StepDistillException($"{path}: no examples (the file is empty)");
        return new Content(examples, hints.Task, hints.Metric);
    }

    static Example ReadExample(string path, int number, JsonElement root, Dictionary<string, int> ids)
    {
        var input = Jsonl.OptionalString(path, number, root, "input")
            ?? throw Jsonl.Error(path, number, "missing required string field 'input'");
        if (input.Length == 0) throw Jsonl.Error(path, number, "field 'input' is empty");
        var id = Jsonl.IdOrLine(path, number, root);
        Jsonl.CheckUnique(ids, id, path, number);
        var label = Jsonl.OptionalString(path, number, root, "label");
        var rationale = Jsonl.OptionalString(path, number, root, "rationale");
        var teacherLabel = Jsonl.OptionalString(path, number, root, "teacher_label");
        if (root.TryGetProperty("status", out var status) &&
            !(status.ValueKind == JsonValueKind.String && status.ValueEquals(AnnotationStatus.Ok)))
        {
            // A failed annotation: whatever partial rationale it holds must not be trained on.
            rationale = null;
            teacherLabel = null;
        }
        return new Example(id, input, label, rationale, teacherLabel);
    }

    /// <summary>The <c>task</c>/<c>metric</c> hints seen so far; all that appear must agree.</summary>
    sealed class Hints(string path)
    {
        int _taskLine, _metricLine;
        public TaskKind? Task { get; private set; }
        public MetricKind? Metric { get; private set; }
        public bool Any => Task is not null || Metric is not null;

        public void Read(int number, JsonElement root)
        {
            if (root.TryGetProperty("task", out _))
            {
                var taskName = Jsonl.OptionalString(path, number, root, "task");
                if (!TaskKinds.TryFromName(taskName, out var k))
                    throw Jsonl.Error(path, number, $"unknown task '{taskName}' (expected svamp, cqa, anli1 or esnli)");
                if (Task is { } prev && prev != k)
                    throw Jsonl.Error(path, number, $"task '{taskName}' differs from the task given on line {_taskLine}");
                (Task, _taskLine) = (k, number);
            }
            if (root.TryGetProperty("metric", out _))
            {
                var metricName = Jsonl.OptionalString(path, number, root, "metric");
                if (!MetricKinds.TryParse(metricName, out var m))
                    throw Jsonl.Error(path, number, $"unknown metric '{metricName}' (expected exact or equation)");
                if (Metric is { } prev && prev != m)
                    throw Jsonl.Error(path, number, $"metric '{metricName}' differs from the metric given on line {_metricLine}");
                (Metric, _metricLine) = (m, number);
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="examples"/> in this format (null fields omitted, UTF-8, LF). With
    /// <paramref name="metric"/>, a header line <c>{"metric": ...}</c> comes first.
    /// </summary>
    public static Task WriteAsync(string path, IEnumerable<Example> examples, MetricKind? metric = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(examples);
        Action<Utf8JsonWriter>? header = metric is { } m ? w =>
        {
            w.WriteStartObject();
            w.WriteString("metric", MetricKinds.Name(m));
            w.WriteEndObject();
        }
        : null;
        return Jsonl.WriteAsync(path, examples, Write, header, cancellationToken);
    }

    static void Write(Utf8JsonWriter w, Example ex)
    {
        w.WriteStartObject();
        w.WriteString("id", ex.Id);
        w.WriteString("input", ex.Input);
        if (ex.Label is not null) w.WriteString("label", ex.Label);
        if (ex.Rationale is not null) w.WriteString("rationale", ex.Rationale);
        if (ex.TeacherLabel is not null) w.WriteString("teacher_label", ex.TeacherLabel);
        w.WriteEndObject();
    }
}
