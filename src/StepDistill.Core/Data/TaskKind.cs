using StepDistill.Evaluation;

namespace StepDistill.Data;

/// <summary>Which benchmark a dataset is: decides input construction, PaLM-output parsing and the metric.</summary>
public enum TaskKind
{
    /// <summary>Our own JSONL: inputs and labels are used as written.</summary>
    Generic,
    /// <summary>SVAMP: arithmetic word problems; the label is an equation, scored by its value.</summary>
    Svamp,
    /// <summary>CommonsenseQA: five-way multiple choice; the label is the answer text.</summary>
    Cqa,
    /// <summary>ANLI (round 1): natural language inference; premise and hypothesis joined by <c>&lt;/s&gt;</c>.</summary>
    Anli,
    /// <summary>e-SNLI: natural language inference with human explanations; same input form as ANLI.</summary>
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
