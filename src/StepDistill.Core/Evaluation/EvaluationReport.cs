using System.Text.Json;
using StepDistill.Data;

namespace StepDistill.Evaluation;

/// <summary>One scored prediction: a line of the predictions file.</summary>
public sealed record PredictionRecord(string Id, string Prediction, string? Label, bool Correct);

/// <summary>Per-example results and their accuracy.</summary>
public sealed class EvaluationReport(MetricKind metric, IReadOnlyList<PredictionRecord> rows)
{
    /// <summary>How predictions were scored.</summary>
    public MetricKind Metric { get; } = metric;
    /// <summary>One row per example, in example order.</summary>
    public IReadOnlyList<PredictionRecord> Rows { get; } = rows;
    /// <summary>The number of scored examples.</summary>
    public int Total => Rows.Count;
    /// <summary>The number of correct predictions.</summary>
    public int Correct { get; } = rows.Count(r => r.Correct);

    /// <summary>Correct / Total, or 0 for an empty report.</summary>
    public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;

    /// <summary>For example <c>588/800 = 73.50%</c>.</summary>
    public override string ToString() => $"{Correct}/{Total} = {Accuracy * 100:F2}%";

    /// <summary>
    /// Writes one JSON object per line, <c>{"id","prediction","label","correct"}</c>, in example order,
    /// creating the parent folder if needed.
    /// </summary>
    public Task WritePredictionsAsync(string path, CancellationToken cancellationToken = default) =>
        Jsonl.WriteAsync(path, Rows, Write, cancellationToken: cancellationToken);

    /// <summary>Writes the predictions JSONL to <paramref name="stream"/> (UTF-8, LF line ends).</summary>
    public Task WritePredictionsAsync(Stream stream, CancellationToken cancellationToken = default) =>
        Jsonl.WriteAsync(stream, Rows, Write, cancellationToken: cancellationToken);

    static void Write(Utf8JsonWriter w, PredictionRecord row)
    {
        w.WriteStartObject();
        w.WriteString("id", row.Id);
        w.WriteString("prediction", row.Prediction);
        if (row.Label is null) w.WriteNull("label");
        else w.WriteString("label", row.Label);
        w.WriteBoolean("correct", row.Correct);
        w.WriteEndObject();
    }
}
