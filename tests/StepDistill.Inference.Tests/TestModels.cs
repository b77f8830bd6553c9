using StepDistill.Inference;
using StepDistill.Tests;
using static TorchSharp.torch;

namespace StepDistill.Inference.Tests;

/// <summary>
/// Student folders for the tests: the "small" T5 shape (d_model 256, 4+4 layers, untied 32k-word LM head) with
/// seeded random weights and the real T5 SentencePiece vocabulary of the shared fixture. Random weights give
/// flat logits full of near-ties, the hardest case for "batching never changes an output". Built once per process.
/// </summary>
public static class TestModels
{
    static readonly Lazy<string> StepByStepFolder = new(() => Build("step-by-step", StudentInfo.PredictPrefix));
    // A copy, not a second initialisation: libtorch's global generator is shared with tests running in parallel.
    static readonly Lazy<string> StandardFolder = new(() => CopyAs(StepByStep, "standard", ""));

    /// <summary>A student saved with <c>stepdistill.json</c> of a step-by-step run (prefix <c>predict: </c>).</summary>
    public static string StepByStep => StepByStepFolder.Value;

    /// <summary>The same weights saved as a standard student (no prefix, no rationale task).</summary>
    public static string Standard => StandardFolder.Value;

    static string Build(string method, string prefix)
    {
        var tokenizer = SharedData.Require("fixtures/t5/t5-tiny-v1_1");
        var dir = Path.Combine(Path.GetTempPath(), $"stepdistill-inference-tests-{Environment.ProcessId}", method);
        using var student = T5Student.Create("small", tokenizer, seed: 7, CPU);
        student.Save(dir, new StudentInfo(method, "teacher", prefix));
        return dir;
    }

    static string CopyAs(string source, string method, string prefix)
    {
        var dir = Path.Combine(Path.GetDirectoryName(source)!, method);
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(source)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)), overwrite: true);
        new StudentInfo(method, "teacher", prefix).Save(dir);
        return dir;
    }

    /// <summary>Inputs of mixed lengths (1 to ~60 words, several length buckets), deterministic.</summary>
    public static List<string> MixedInputs(int count, int seed = 1)
    {
        string[] words = ["how", "many", "legs", "do", "cats", "and", "birds", "have", "the", "farm", "keeps", "three", "spiders",
                          "dogs", "a", "child", "counts", "every", "animal", "in", "garden", "total", "is", "what", "sum", "of"];
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(i =>
        {
            var n = i % 4 == 0 ? rng.Next(1, 4) : i % 4 == 1 ? rng.Next(4, 12) : i % 4 == 2 ? rng.Next(12, 30) : rng.Next(30, 60);
            return string.Join(' ', Enumerable.Range(0, n).Select(_ => words[rng.Next(words.Length)])) + $" {i}?";
        }).ToList();
    }
}

/// <summary>A temporary folder deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "stepdistill-test-" + Guid.NewGuid().ToString("N"));
    public TempDir() => Directory.CreateDirectory(Path);
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
