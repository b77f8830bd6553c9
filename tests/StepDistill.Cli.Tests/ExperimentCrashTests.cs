using System.Text.Json.Nodes;
using StepDistill.Experiments.Runner;
using StepDistill.Tests;
using StepDistill.Training;

namespace StepDistill.Cli.Tests;

/// <summary>
/// The experiment runner with parallel child processes, through the real CLI: it gives the same results as the
/// in-process runner; SIGINT keeps the finished cells and a rerun skips them; a SIGKILL at any of its own file
/// operations is followed by a rerun whose report equals an uninterrupted run's.
/// </summary>
public sealed class ExperimentCrashTests(Xunit.Abstractions.ITestOutputHelper log) : ScratchFolderTest
{
    static string Cli => typeof(App).Assembly.Location;
    static readonly TimeSpan Bound = TimeSpan.FromMinutes(4);

    static string[] ExperimentArgs(string data, string outDir, int parallel, int steps, string seeds, string methods = "standard:gold,step-by-step:teacher") =>
    [
        "experiment", "--data", Path.Combine(data, "train.jsonl"), "--dev", Path.Combine(data, "dev.jsonl"),
        "--methods", methods, "--fractions", "1", "--seeds", seeds, "--model", "tiny",
        "--max-steps", steps.ToString(), "--eval-every", steps.ToString(), "--batch-size", "4", "--max-new-tokens", "2", "--lr", "0.03",
        "--threads", "1", "--device", "cpu", "--parallel", parallel.ToString(), "--out", outDir,
    ];

    /// <summary>results.json without wall-clock numbers (training seconds, timings), the only fields that may differ.</summary>
    static string Results(string outDir)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, Report.JsonFile)))!.AsObject();
        json.Remove("timings_s");
        foreach (var run in json["runs"]!.AsArray()) run!.AsObject().Remove("train_seconds");
        return json.ToJsonString();
    }

    static bool CellDone(string outDir, string key) => File.Exists(Path.Combine(outDir, "cells", key, "cell.json"));

    /// <summary>Waits until no process holds a cell's training lock (a killed runner's children stop when it dies).</summary>
    static async Task WaitForCellLocksAsync(string outDir)
    {
        var cells = Path.Combine(outDir, "cells");
        if (!Directory.Exists(cells)) return;
        var deadline = DateTime.UtcNow + Bound;
        foreach (var cell in Directory.GetDirectories(cells))
        {
            var lockFile = Path.Combine(cell, Trainer.LockFile);
            while (true)
            {
                try { using var held = FileOps.AcquireLock(lockFile, cell); break; }
                catch (StepDistillException) when (DateTime.UtcNow < deadline) { await Task.Delay(20); }
            }
        }
    }

    [Fact]
    public async Task Sigint_during_a_parallel_experiment_keeps_finished_cells_and_the_rerun_equals_an_uninterrupted_run()
    {
        var data = TrainCrashSweepTests.WriteConstantTask(dir);
        // Reference: the in-process runner (--parallel 1), uninterrupted.
        var reference = Path.Combine(dir, "reference");
        var (rc, output) = await ChildCli.RunAsync(Cli, ExperimentArgs(data, reference, 1, 40, "0,1,2"), timeout: Bound);
        Assert.True(rc == 0, output);

        // Parallel child processes, interrupted once a cell has finished and while others are still training.
        var run = Path.Combine(dir, "parallel");
        var keys = Directory.GetDirectories(Path.Combine(reference, "cells")).Select(Path.GetFileName).ToList();
        Assert.Equal(6, keys.Count);
        List<string> finished;
        using (var child = ChildCli.Start(Cli, ExperimentArgs(data, run, 2, 40, "0,1,2")))
        {
            await child.WaitForAsync(() => keys.Any(k => CellDone(run, k!)), Bound, "a cell finished");
            child.Signal(ChildCli.SIGINT);
            Assert.Equal(130, await child.WaitForExitAsync(Bound));
            finished = keys.Where(k => CellDone(run, k!)).ToList()!;
        }
        Assert.InRange(finished.Count, 1, keys.Count - 1);
        var stamps = finished.ToDictionary(k => k, k => File.ReadAllText(Path.Combine(run, "cells", k, "cell.json")));

        await WaitForCellLocksAsync(run);
        var (again, rerunLog) = await ChildCli.RunAsync(Cli, ExperimentArgs(data, run, 2, 40, "0,1,2"), timeout: Bound);
        Assert.True(again == 0, rerunLog);
        Assert.Contains($"{finished.Count} of {keys.Count} cells already finished; skipping them", rerunLog);
        foreach (var k in finished)
        {
            Assert.DoesNotContain($"cell {k}: training", rerunLog);
            Assert.Equal(stamps[k], File.ReadAllText(Path.Combine(run, "cells", k, "cell.json"))); // kept as it was
        }
        Assert.Equal(Results(reference), Results(run));
    }

    /// <summary>One cell, trained by a child process (--parallel 2): the sweep covers the runner's own operations.</summary>
    const string SweepMethods = "step-by-step:teacher";

    [Fact]
    public async Task Experiment_killed_at_every_file_operation_of_the_runner_reruns_to_the_same_report()
    {
        var data = TrainCrashSweepTests.WriteConstantTask(dir);
        var reference = Path.Combine(dir, "reference");
        var trace = Path.Combine(dir, "reference.trace");
        var (rc, output) = await ChildCli.RunAsync(Cli, ExperimentArgs(data, reference, 2, 2, "0", SweepMethods),
            new Dictionary<string, string> { ["STEPDISTILL_FAULT_TRACE"] = trace }, Bound);
        Assert.True(rc == 0, output);
        var ops = File.ReadAllLines(trace);
        Assert.Contains(ops, l => l.EndsWith(" rename " + Path.Combine(reference, Report.JsonFile), StringComparison.Ordinal));
        Assert.DoesNotContain(ops, l => l.Contains("checkpoint-", StringComparison.Ordinal)); // the children are not counted
        var expected = Results(reference);

        var kills = 0;
        await Sweep.RunAsync(ops.Length, async k =>
        {
            var run = Path.Combine(dir, $"k{k:D3}");
            var (code, text) = await ChildCli.RunAsync(Cli, ExperimentArgs(data, run, 2, 2, "0", SweepMethods),
                new Dictionary<string, string> { ["STEPDISTILL_FAULT_AT"] = k.ToString() }, Bound);
            Assert.True(code == 137, $"op {k}: expected a SIGKILL at this operation, got exit {code}:\n{text}");
            Interlocked.Increment(ref kills);
            return run;
        }, async (k, run) =>
        {
            await WaitForCellLocksAsync(run);
            var (code, text) = await ChildCli.RunAsync(Cli, ExperimentArgs(data, run, 2, 2, "0", SweepMethods), timeout: Bound);
            Assert.True(code == 0, $"op {k} ({ops[k - 1]}): the rerun failed ({code}):\n{text}");
            Assert.True(expected == Results(run), $"op {k} ({ops[k - 1]}): the report differs from the uninterrupted run's");
            Directory.Delete(run, true);
        }, parallel: 1);
        Assert.Equal(ops.Length, kills);
        log.WriteLine($"experiment sweep: {ops.Length} operations, {kills} kills survived");
    }
}
