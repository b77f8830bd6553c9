using System.Security.Cryptography;
using System.Text.Json.Nodes;
using StepDistill.Student.Checkpoint;
using StepDistill.Tests;
using StepDistill.Training;

namespace StepDistill.Cli.Tests;

/// <summary>
/// Crash consistency of <c>train</c> by fault injection: the real CLI process is stopped by SIGKILL at each file
/// operation of a short run in turn (STEPDISTILL_FAULT_AT), then run again; every rerun must end byte-identical to
/// an uninterrupted run, and what a user had before the kill (best/, the last checkpoint) must still be whole.
/// </summary>
/// <summary>
/// The sweep reruns training in this process; it runs alone, since another test class training at the same time in
/// the same process (libtorch's thread settings are process-wide) made two of its reruns fail inside libtorch.
/// </summary>
[CollectionDefinition(nameof(TrainCrashSweepTests), DisableParallelization = true)]
public sealed class TrainCrashSweepCollection;

[Collection(nameof(TrainCrashSweepTests))]
public sealed class TrainCrashSweepTests(Xunit.Abstractions.ITestOutputHelper log) : ScratchFolderTest
{
    static string Cli => typeof(App).Assembly.Location;

    /// <summary>Four steps, a dev evaluation every two: best/ is saved at step 2 (0%) and replaced at step 4 (100%).</summary>
    internal static string[] TrainArgs(string data, string outDir) =>
    [
        "train", "--data", Path.Combine(data, "train.jsonl"), "--dev", Path.Combine(data, "dev.jsonl"), "--method", "step-by-step",
        "--labels", "teacher", "--model", "tiny", "--max-steps", "4", "--eval-every", "2", "--log-every", "2", "--batch-size", "4",
        "--max-new-tokens", "2", "--lr", "0.03", "--keep-last", "1", "--threads", "1", "--device", "cpu", "--out", outDir,
    ];

    /// <summary>A task a tiny student learns in a few steps (the answer is always 7), so that best/ is replaced once.</summary>
    internal static string WriteConstantTask(string root)
    {
        var data = Path.Combine(root, "data");
        Directory.CreateDirectory(data);
        var rng = new Random(5);
        foreach (var (split, n) in new[] { ("train", 16), ("dev", 4) })
            File.WriteAllLines(Path.Combine(data, split + ".jsonl"), Enumerable.Range(0, n).Select(i =>
            {
                int a = rng.Next(10), b = rng.Next(10);
                return new JsonObject
                {
                    ["id"] = $"{split}{i}", ["input"] = $"{a}+{b}", ["label"] = "7", ["rationale"] = $"{a} and {b}",
                    ["teacher_label"] = "7"
                }.ToJsonString();
            }));
        return data;
    }

    [Fact]
    public async Task Train_killed_at_every_file_operation_reruns_to_a_byte_identical_run()
    {
        var data = WriteConstantTask(dir);
        var reference = Path.Combine(dir, "reference");
        var trace = Path.Combine(dir, "reference.trace");
        var (rc, output) = await ChildCli.RunAsync(Cli, TrainArgs(data, reference), new Dictionary<string, string> { ["STEPDISTILL_FAULT_TRACE"] = trace });
        Assert.True(rc == 0, output);
        var ops = File.ReadAllLines(trace);
        var bestDir = Path.Combine(reference, Trainer.BestDir);
        // The scenario must exercise what it is meant to: best/ published, then replaced; checkpoints published and pruned.
        Assert.Equal(2, ops.Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @" create .*/\.best\.[0-9a-f]{32}\.tmp$")));
        var bestPublished = ops.Select((l, i) => (l, i)).Where(x => x.l.EndsWith(" rename " + bestDir, StringComparison.Ordinal)).Select(x => x.i + 1).ToList();
        Assert.Contains(ops, l => l.Contains(" delete ", StringComparison.Ordinal) && l.Contains(".checkpoint-0000002.", StringComparison.Ordinal));
        var expected = Snapshot(reference);
        var bestFiles = Directory.GetFiles(bestDir).Select(Path.GetFileName).Order().ToList();

        var kills = 0;
        var startAt = DateTime.UtcNow;
        await Sweep.RunAsync(ops.Length, async k =>
        {
            var run = Path.Combine(dir, $"k{k:D3}");
            var (code, text) = await ChildCli.RunAsync(Cli, TrainArgs(data, run), new Dictionary<string, string> { ["STEPDISTILL_FAULT_AT"] = k.ToString() });
            Assert.True(code == 137, $"op {k}: expected a SIGKILL at this operation, got exit {code}:\n{text}");
            Assert.Contains($"stopping at operation {k} ", text);
            Interlocked.Increment(ref kills);
            return run;
        }, async (k, run) =>
        {
            // Nothing the user had is lost at the moment of the kill: once published, best/ stays whole.
            var best = Path.Combine(run, Trainer.BestDir);
            if (bestPublished[0] < k)
            {
                Assert.True(Directory.Exists(best), $"op {k} ({ops[k - 1]}): best/ is missing after the kill");
                Assert.Equal(bestFiles, Directory.GetFiles(best).Select(Path.GetFileName).Order().ToList());
                Weights(best);
            }
            if (Trainer.LatestCheckpoint(run) is { } latest) Weights(latest);

            // The rerun is a process of its own, as a user's would be. In this test host, child-process readers allocate on
            // other threads while a rerun trains, and a GC then may finalize a TorchSharp temporary Scalar mid-call
            // ("Unknown scalar type"; a TorchSharp race, see the issue-13 note), which is not what this test is about.
            var (code, text) = await ChildCli.RunAsync(Cli, TrainArgs(data, run));
            Assert.True(code == 0, $"op {k} ({ops[k - 1]}): the rerun failed ({code}):\n{text}");
            var actual = Snapshot(run);
            Assert.True(expected.Keys.SequenceEqual(actual.Keys), $"op {k} ({ops[k - 1]}): files differ: [{string.Join(", ", actual.Keys)}] vs " +
                $"[{string.Join(", ", expected.Keys)}]");
            foreach (var (file, hash) in expected)
                Assert.True(hash == actual[file], $"op {k} ({ops[k - 1]}): {file} differs from the uninterrupted run's");
            Directory.Delete(run, true);
        });
        Assert.Equal(ops.Length, kills);
        log.WriteLine($"train sweep: {ops.Length} operations, {kills} kills survived, {(DateTime.UtcNow - startAt).TotalSeconds:F0} s");
    }

    /// <summary>
    /// Everything a run leaves, as relative path → SHA-256; wall-clock fields (elapsed time, speed, start time) are
    /// dropped first, since only they may differ between runs. Hidden leftovers and the lock file are listed too.
    /// </summary>
    internal static SortedDictionary<string, string> Snapshot(string run)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Directory.GetFiles(run, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(run, file).Replace('\\', '/');
            var bytes = File.ReadAllBytes(file);
            var name = Path.GetFileName(file);
            if (name == Trainer.MetricsFile)
                bytes = System.Text.Encoding.UTF8.GetBytes(string.Join('\n', File.ReadAllLines(file).Select(l => Without(l, "tokens_per_s", "elapsed_s"))));
            else if (name == Trainer.StateFile) bytes = System.Text.Encoding.UTF8.GetBytes(Without(File.ReadAllText(file), "elapsed_s"));
            else if (name == Trainer.RunFile) bytes = System.Text.Encoding.UTF8.GetBytes(Without(File.ReadAllText(file), "started"));
            result[rel] = Convert.ToHexString(SHA256.HashData(bytes));
        }
        foreach (var d in Directory.GetDirectories(run, "*", SearchOption.AllDirectories))
            result[Path.GetRelativePath(run, d).Replace('\\', '/') + "/"] = "";
        return result;
    }

    static string Without(string json, params string[] keys)
    {
        var node = JsonNode.Parse(json)!.AsObject();
        foreach (var k in keys) node.Remove(k);
        return node.ToJsonString();
    }

    static void Weights(string checkpoint)
    {
        var t = Safetensors.Load(Path.Combine(checkpoint, T5Checkpoint.WeightsFile));
        Assert.NotEmpty(t);
        foreach (var v in t.Values) v.Dispose();
    }
}
