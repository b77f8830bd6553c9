using System.Text.Json;
using StepDistill.Data;

namespace StepDistill.Evaluation;

/// <summary>One scored prediction: a line of the predictions file.</summary>
public sealed record PredictionRecord(string Id, string Prediction, string? Label, bool Correct);

/// <summary>Per-example results and their accuracy.</summary>
public sealed class EvaluationReport(MetricKind metric, IReadOnlyList<PredictionRecord> rows)
{
    public MetricKind Metric { get; } = metric;
    public IReadOnlyList<PredictionRecord> Rows { get; } = rows;
    public int Total => Rows.Count;
    public int Correct { get; } = rows.Count(r => r.Correct);

    /// <summary>Correct / Total, or 0 for an empty report.</summary>
    public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;

    /// <summary>For example <c>588/800 = 73.50%</c>.</summary>
    public override string ToString() => $"{Correct}/{Total} = {Accuracy * 100:F2}%";

    /// <summary>
    /// Writes one JSON object per line, <c>{"id","prediction","label","correct"}</c>, in example order,
    /// creating the parent folder if needed.
    /// </summary>
    public async Task WritePredictionsAsync(string path, CancellationToken cancellationToken = default)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        await using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        await WritePredictionsAsync(stream, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes the predictions JSONL to <paramref name="stream"/> (UTF-8, LF line ends).</summary>
    public async Task WritePredictionsAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        var buffer = new MemoryStream();
        foreach (var row in Rows)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using (var w = new Utf8JsonWriter(buffer, JsonLines.WriterOptions))
            {
                w.WriteStartObject();
                w.WriteString("id", row.Id);
                w.WriteString("prediction", row.Prediction);
                if (row.Label is null) w.WriteNull("label");
                else w.WriteString("label", row.Label);
                w.WriteBoolean("correct", row.Correct);
                w.WriteEndObject();
            }
            buffer.WriteByte((byte)'\n');
            if (buffer.Length > 1 << 16) await Flush().ConfigureAwait(false);
        }
        await Flush().ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);

        async Task Flush()
        {
            await stream.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken).ConfigureAwait(false);
            buffer.SetLength(0);
        }
    }
}
