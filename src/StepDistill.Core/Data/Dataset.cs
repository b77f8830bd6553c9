using StepDistill.Evaluation;

namespace StepDistill.Data;

/// <summary>
/// A loaded split: its examples plus what is needed to score them.
/// </summary>
/// <param name="Name">Dataset name: <c>svamp</c>, <c>cqa</c>, <c>anli1</c>, <c>esnli</c>, or a JSONL file's name without extension.</param>
/// <param name="Split">The split asked for, normalised: <c>train</c>, <c>dev</c>, <c>test</c> or <c>train-full</c>; for a JSONL file, what the caller
/// passed (default <c>all</c>).</param>
/// <param name="Task">The benchmark, or <see cref="TaskKind.Generic"/> for our JSONL without a task hint.</param>
/// <param name="Metric">How predictions on this set are scored.</param>
/// <param name="Source">The file or folder it was read from.</param>
/// <param name="Examples">The examples, in file order.</param>
public sealed record Dataset(string Name, string Split, TaskKind Task, MetricKind Metric, string Source, IReadOnlyList<Example> Examples)
{
    /// <summary>The number of examples.</summary>
    public int Count => Examples.Count;

    /// <summary>Whether this is a held-out test split: never select or tune anything on it.</summary>
    public bool IsTest => Split == "test";

    /// <summary>Throws, naming the source and the first example without one, unless every example has a gold label.</summary>
    public void RequireGoldLabels()
    {
        if (Examples.FirstOrDefault(e => e.Label is null) is { } missing)
            throw new StepDistillException($"{Source}: example '{missing.Id}' has no gold label (\"label\"), so it cannot be scored");
    }

    /// <summary>The same dataset restricted to a nested, seeded fraction of its examples (see <see cref="Subsampler"/>).</summary>
    public Dataset Subsample(double fraction, int seed) => this with { Examples = Subsampler.Subsample(Examples, fraction, seed) };
}
