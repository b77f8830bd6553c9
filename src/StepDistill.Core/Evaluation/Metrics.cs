using StepDistill.Data;

namespace StepDistill.Evaluation;

/// <summary>Scores predictions against gold labels with the official rules.</summary>
public static class Metrics
{
    /// <summary>
    /// Whether <paramref name="prediction"/> is right. Exact match is strict ordinal equality with no trimming
    /// or case folding, as in the official <c>metrics.py</c>; a null on either side is wrong.
    /// </summary>
    public static bool IsCorrect(MetricKind metric, string? prediction, string? label) => metric switch
    {
        MetricKind.Equation => EquationEvaluator.ValuesEqual(prediction, label),
        _ => prediction is not null && label is not null && string.Equals(prediction, label, StringComparison.Ordinal),
    };

    /// <summary>
    /// Scores one prediction per example, in order. Every example needs a gold label.
    /// </summary>
    /// <exception cref="StepDistillException">Counts differ, or an example has no gold label.</exception>
    public static EvaluationReport Score(MetricKind metric, IReadOnlyList<Example> examples, IReadOnlyList<string> predictions)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(predictions);
        if (examples.Count != predictions.Count)
            throw new StepDistillException($"{predictions.Count} predictions for {examples.Count} examples: the counts must match");
        var rows = new PredictionRecord[examples.Count];
        for (var i = 0; i < rows.Length; i++)
        {
            var ex = examples[i];
            if (ex.Label is null)
                throw new StepDistillException($"example '{ex.Id}' has no gold label, so it cannot be scored");
            rows[i] = new PredictionRecord(ex.Id, predictions[i], ex.Label, IsCorrect(metric, predictions[i], ex.Label));
        }
        return new EvaluationReport(metric, rows);
    }

    /// <summary>
    /// Scores the teacher's labels against gold (the official "LLM accuracy"). An example without a teacher
    /// label counts as wrong; its prediction is written as an empty string. Every example needs a gold label.
    /// </summary>
    public static EvaluationReport ScoreTeacher(MetricKind metric, IReadOnlyList<Example> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var rows = new PredictionRecord[examples.Count];
        for (var i = 0; i < rows.Length; i++)
        {
            var ex = examples[i];
            if (ex.Label is null)
                throw new StepDistillException($"example '{ex.Id}' has no gold label, so its teacher label cannot be scored");
            rows[i] = new PredictionRecord(ex.Id, ex.TeacherLabel ?? "", ex.Label, IsCorrect(metric, ex.TeacherLabel, ex.Label));
        }
        return new EvaluationReport(metric, rows);
    }
}
