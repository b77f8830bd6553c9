using System.Globalization;
using System.Text.RegularExpressions;
using StepDistill.Tests;
using StepDistill.Training;

namespace StepDistill.Cli.Tests;

/// <summary>A training process killed with SIGKILL and started again ends with the weights of an uninterrupted run.</summary>
public sealed class KillResumeTests : ScratchFolderTest
{
    static string[] TrainArgs(string data, string outDir) =>
    [
        "train", "--data", data, "--method", "step-by-step", "--labels", "teacher", "--model", "tiny", "--max-steps", "300",
        "--eval-every", "8", "--log-every", "1", "--batch-size", "8", "--max-new-tokens", "3", "--dropout", "0.1",
        "--lr", "0.003", "--threads", "1", "--device", "cpu", "--out", outDir,
    ];

    static ChildCli Start(string[] args) => ChildCli.Start(typeof(App).Assembly.Location, args); // stepdistill.dll beside the tests

    static int StepOf(string checkpoint) => int.Parse(Path.GetFileName(checkpoint)["checkpoint-".Length..], CultureInfo.InvariantCulture);

    static int LastLoggedStep(string run)
    {
        var metrics = Path.Combine(run, Trainer.MetricsFile);
        if (!File.Exists(metrics)) return -1;
        using var stream = new FileStream(metrics, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return Regex.Matches(reader.ReadToEnd(), "\"step\":(\\d+)").Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))
                    .DefaultIfEmpty(-1).Max();
    }

    [Fact]
    public async Task SigkillMidRun_ThenRerun_GivesBitIdenticalFinalWeights()
    {
        var data = Path.Combine(dir, "data");
        Directory.CreateDirectory(data);
        await SumsData.WriteAsync(Path.Combine(data, "train.jsonl"), "train", 48, 5);

        var straight = Path.Combine(dir, "straight");
        using (var p = Start(TrainArgs(data, straight))) Assert.Equal(0, await p.WaitForExitAsync(TimeSpan.FromMinutes(5)));

        // Kill once a checkpoint exists and training has logged a step past it (checkpoints rotate, so any one will do).
        var killed = Path.Combine(dir, "killed");
        using (var p = Start(TrainArgs(data, killed)))
        {
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (DateTime.UtcNow < deadline && !p.HasExited)
            {
                if (Trainer.LatestCheckpoint(killed) is { } checkpoint && LastLoggedStep(killed) > StepOf(checkpoint)) break;
                await Task.Delay(20);
            }
            Assert.False(p.HasExited, "training finished before it could be killed");
            p.Signal(ChildCli.SIGKILL); // no cleanup, no final checkpoint
            await p.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }
        Assert.Null(Trainer.LatestCheckpoint(killed) is { } c && c.EndsWith("0000300", StringComparison.Ordinal) ? c : null);

        using (var p = Start(TrainArgs(data, killed))) Assert.Equal(0, await p.WaitForExitAsync(TimeSpan.FromMinutes(5)));
        Assert.Equal(CheckpointWeights.Read(Trainer.LatestCheckpoint(straight)!), CheckpointWeights.Read(Trainer.LatestCheckpoint(killed)!));
        Assert.Equal(CheckpointWeights.Read(Path.Combine(straight, "best")), CheckpointWeights.Read(Path.Combine(killed, "best")));
    }
}
