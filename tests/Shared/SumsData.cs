using StepDistill.Data;
using StepDistill.Evaluation;

namespace StepDistill.Tests;

/// <summary>A tiny in-memory task ("a+b" → sum, with a rationale and a teacher label) for trainer and runner tests.</summary>
public static class SumsData
{
    /// <summary><paramref name="n"/> examples of the <paramref name="split"/> split, drawn from <paramref name="seed"/>.</summary>
    public static Dataset Sums(string split, int n, int seed)
    {
        var rng = new Random(seed);
        return new Dataset("sums", split, TaskKind.Generic, MetricKind.Exact, "memory", Enumerable.Range(0, n).Select(i =>
        {
            int a = rng.Next(10), b = rng.Next(10);
            return new Example($"{split}{i}", $"{a}+{b}", $"{a + b}", $"{a} plus {b} is {a + b}", $"{a + b}");
        }).ToList());
    }

    /// <summary>Writes a data folder: <c>train.jsonl</c> (<paramref name="train"/> examples, seed 1) and <c>dev.jsonl</c> (seed 2).</summary>
    public static async Task<string> WriteFolderAsync(string folder, int train, int dev)
    {
        await WriteAsync(Path.Combine(folder, "train.jsonl"), "train", train, 1);
        await WriteAsync(Path.Combine(folder, "dev.jsonl"), "dev", dev, 2);
        return folder;
    }

    /// <summary>Writes <see cref="Sums"/> as our JSONL at <paramref name="path"/>; without rationale and teacher label unless
    /// <paramref name="withRationale"/>.</summary>
    public static Task WriteAsync(string path, string split, int n, int seed, bool withRationale = true) =>
        ExampleJsonl.WriteAsync(path, Sums(split, n, seed).Examples.Select(e => withRationale ? e : e with { Rationale = null, TeacherLabel = null }));
}
