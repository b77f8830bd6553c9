using System.Text.Json.Nodes;
using StepDistill.Tests;
using StepDistill.Training;

namespace StepDistill.Cli.Tests;

/// <summary>
/// Signals and the run-folder lock, through the real CLI in a child process: SIGINT or SIGTERM during <c>train</c>
/// saves a checkpoint and exits 130 or 143, and <c>train</c> again ends where an uninterrupted run ends; a second
/// <c>train</c> on a folder in use refuses at once, and a SIGKILL releases the lock.
/// </summary>
public sealed class TrainSignalTests : ScratchFolderTest
{
    static string Cli => typeof(App).Assembly.Location;
    static readonly TimeSpan Bound = TimeSpan.FromMinutes(6);

    /// <summary>Long enough (300 steps) that a signal sent after step 10 lands mid-run on a fast machine.</summary>
    static string[] TrainArgs(string data, string outDir) =>
    [
        "train", "--data", Path.Combine(data, "train.jsonl"), "--method", "step-by-step", "--labels", "teacher", "--model", "tiny",
        "--max-steps", "300", "--log-every", "5", "--batch-size", "4", "--lr", "0.003", "--threads", "1", "--device", "cpu", "--out", outDir,
    ];

    static bool AtStep(string line, int step) => line.Contains($" step {step}/300 ", StringComparison.Ordinal);

    [Fact]
    public async Task Sigint_and_sigterm_save_a_checkpoint_exit_130_or_143_and_train_again_resumes_to_the_identical_result()
    {
        var data = TrainCrashSweepTests.WriteConstantTask(dir);
        var straight = Path.Combine(dir, "straight");
        var (rc, output) = await ChildCli.RunAsync(Cli, TrainArgs(data, straight), timeout: Bound);
        Assert.True(rc == 0, output);
        var expected = TrainCrashSweepTests.Snapshot(straight);

        foreach (var (signal, code) in new[] { (ChildCli.SIGINT, 130), (ChildCli.SIGTERM, 143) })
        {
            var run = Path.Combine(dir, $"signal{signal}");
            using (var child = ChildCli.Start(Cli, TrainArgs(data, run)))
            {
                await child.WaitForLineAsync(l => AtStep(l, 10), Bound);
                child.Signal(signal);
                var exit = await child.WaitForExitAsync(Bound);
                Assert.True(exit == code, $"signal {signal}: exit {exit}, expected {code}:\n{child.Output}");
                var stopped = child.Lines.FirstOrDefault(l => l.Contains("stopped at step", StringComparison.Ordinal));
                Assert.True(stopped is not null, $"no checkpoint on signal {signal}:\n{child.Output}");
                var latest = Trainer.LatestCheckpoint(run);
                Assert.NotNull(latest);
                var step = JsonNode.Parse(File.ReadAllText(Path.Combine(latest, Trainer.StateFile)))!["step"]!.GetValue<int>();
                Assert.InRange(step, 10, 299);
                Assert.Contains($"stopped at step {step};", stopped);
            }
            var (again, log) = await ChildCli.RunAsync(Cli, TrainArgs(data, run), timeout: Bound);
            Assert.True(again == 0, log);
            Assert.Contains("resuming from checkpoint-", log);
            Assert.Equal(expected, TrainCrashSweepTests.Snapshot(run));
        }
    }

    [Fact]
    public async Task A_second_train_on_a_folder_in_use_refuses_at_once_and_a_sigkill_releases_the_lock()
    {
        var data = TrainCrashSweepTests.WriteConstantTask(dir);
        var run = Path.Combine(dir, "run");
        using (var first = ChildCli.Start(Cli, TrainArgs(data, run)))
        {
            await first.WaitForLineAsync(l => AtStep(l, 5), Bound);
            var (rc, output) = await ChildCli.RunAsync(Cli, TrainArgs(data, run), timeout: Bound);
            Assert.Equal(1, rc);
            Assert.Contains("another process is writing it", output);
            Assert.DoesNotContain("   at ", output); // one line, no stack trace
            Assert.False(first.HasExited, "the first run was disturbed by the second");
            first.Signal(ChildCli.SIGKILL);
            await first.WaitForExitAsync(Bound);
        }
        // The OS dropped the lock with the process: the same command now runs (from scratch or a checkpoint) to the end.
        var (again, log) = await ChildCli.RunAsync(Cli, TrainArgs(data, run), timeout: Bound);
        Assert.True(again == 0, log);
    }
}
