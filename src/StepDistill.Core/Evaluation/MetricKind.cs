namespace StepDistill.Evaluation;

/// <summary>How a prediction is compared with its gold label (the official <c>metrics.py</c> rules).</summary>
public enum MetricKind
{
    /// <summary>Strict, case-sensitive string equality (CQA, ANLI, e-SNLI, and our JSONL by default).</summary>
    Exact,

    /// <summary>Both strings are arithmetic expressions with equal values (SVAMP); see <see cref="EquationEvaluator"/>.</summary>
    Equation,
}

/// <summary>Parsing of metric names given on the command line or in a JSONL file.</summary>
public static class MetricKinds
{
    /// <summary>Parses <c>exact</c> or <c>equation</c> (case-insensitive); false for anything else.</summary>
    public static bool TryParse(string? text, out MetricKind metric)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "exact" or "exact-match" or "exact_match" or "em":
                metric = MetricKind.Exact;
                return true;
            case "equation" or "equation-value":
                metric = MetricKind.Equation;
                return true;
            default:
                metric = MetricKind.Exact;
                return false;
        }
    }

    /// <summary>The name <see cref="TryParse"/> accepts for <paramref name="metric"/>.</summary>
    public static string Name(MetricKind metric) => metric == MetricKind.Equation ? "equation" : "exact";
}
