using StepDistill.Evaluation;

namespace StepDistill.Data;

/// <summary>Which benchmark a dataset is: decides input construction, PaLM-output parsing and the metric.</summary>
public enum TaskKind
{
    /// <summary>Our own JSONL: inputs and labels are used as written.</summary>
    Generic,
    Svamp,
    Cqa,
    Anli,
    Esnli,
}

/// <summary>Helpers on <see cref="TaskKind"/>.</summary>
public static class TaskKinds
{
    /// <summary>SVAMP is scored by equation value; every other task by exact match.</summary>
    public static MetricKind DefaultMetric(this TaskKind task) => task == TaskKind.Svamp ? MetricKind.Equation : MetricKind.Exact;

    /// <summary>Maps an official dataset name (<c>svamp</c>, <c>cqa</c>, <c>anli1</c>..<c>anli3</c>, <c>esnli</c>) to its task.</summary>
    public static bool TryFromName(string? name, out TaskKind task)
    {
        var n = name?.Trim().ToLowerInvariant() ?? "";
        task = n switch
        {
            "svamp" => TaskKind.Svamp,
            "cqa" => TaskKind.Cqa,
            "esnli" or "e-snli" => TaskKind.Esnli,
            _ when n.StartsWith("anli", StringComparison.Ordinal) => TaskKind.Anli,
            _ => TaskKind.Generic,
        };
        return task != TaskKind.Generic;
    }
}
