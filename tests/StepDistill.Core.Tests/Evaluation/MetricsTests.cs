using System.Text.Json;
using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Tests.Data;

namespace StepDistill.Tests.Evaluation;

public class MetricsTests
{
    [Theory]
    [InlineData("wooded area", "wooded area", true)]
    [InlineData("Michigan", "michigan", false)]     // case-sensitive, as the official metric
    [InlineData("entailment ", "entailment", false)] // no trimming
    [InlineData("", "", true)]
    [InlineData(null, "x", false)]
    [InlineData("x", null, false)]
    public void Exact_match_is_strict(string? prediction, string? label, bool expected) =>
        Assert.Equal(expected, Metrics.IsCorrect(MetricKind.Exact, prediction, label));

    [Fact]
    public void Equation_metric_compares_values() =>
        Assert.True(Metrics.IsCorrect(MetricKind.Equation, "(10 * 45)", "( 10.0 * 45.0 )"));

    [Fact]
    public async Task Score_counts_and_writes_predictions_jsonl()
    {
        var examples = new[]
        {
            new Example("a", "in a", "( 2.0 + 2.0 )"),
            new Example("b", "in b", "( 3.0 * 3.0 )"),
            new Example("c\"q", "in c", "( 1.0 )"),
        };
        var report = Metrics.Score(MetricKind.Equation, examples, ["(2 + 2)", "(3 + 3)", "1"]);
        Assert.Equal(2, report.Correct);
        Assert.Equal(3, report.Total);
        Assert.Equal(2.0 / 3, report.Accuracy, 12);
        Assert.Equal("2/3 = 66.67%", report.ToString());

        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "out", "predictions.jsonl");
        await report.WritePredictionsAsync(path);
        var lines = File.ReadAllLines(path);
        Assert.Equal(3, lines.Length);
        var rows = lines.Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(["a", "b", "c\"q"], rows.Select(r => r.GetProperty("id").GetString()));
        Assert.Equal(["(2 + 2)", "(3 + 3)", "1"], rows.Select(r => r.GetProperty("prediction").GetString()));
        Assert.Equal("( 3.0 * 3.0 )", rows[1].GetProperty("label").GetString());
        Assert.Equal([true, false, true], rows.Select(r => r.GetProperty("correct").GetBoolean()));
    }

    [Fact]
    public void Score_rejects_count_mismatch_and_missing_gold()
    {
        var examples = new[] { new Example("a", "x", "yes"), new Example("b", "y") };
        var e1 = Assert.Throws<StepDistillException>(() => Metrics.Score(MetricKind.Exact, examples, ["yes"]));
        Assert.Contains("1 predictions for 2 examples", e1.Message);
        var e2 = Assert.Throws<StepDistillException>(() => Metrics.Score(MetricKind.Exact, examples, ["yes", "no"]));
        Assert.Contains("'b'", e2.Message);
    }

    [Fact]
    public void Teacher_accuracy_counts_missing_teacher_labels_as_wrong()
    {
        var examples = new[]
        {
            new Example("a", "x", "yes", "r", "yes"),
            new Example("b", "x", "no", null, null),
            new Example("c", "x", "no", "r", "yes"),
        };
        var report = Metrics.ScoreTeacher(MetricKind.Exact, examples);
        Assert.Equal(1, report.Correct);
        Assert.Equal("", report.Rows[1].Prediction);
        Assert.False(report.Rows[1].Correct);
    }

    [Fact]
    public void Empty_report_has_zero_accuracy() =>
        Assert.Equal(0, Metrics.Score(MetricKind.Exact, [], []).Accuracy);

    [Theory]
    [InlineData("exact", MetricKind.Exact)]
    [InlineData("EQUATION", MetricKind.Equation)]
    public void Metric_names_parse(string text, MetricKind expected)
    {
        Assert.True(MetricKinds.TryParse(text, out var m));
        Assert.Equal(expected, m);
        Assert.True(MetricKinds.TryParse(MetricKinds.Name(m), out var again));
        Assert.Equal(m, again);
        Assert.False(MetricKinds.TryParse("rouge", out _));
    }
}
