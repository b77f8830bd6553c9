using System.Diagnostics;
using System.Text.Json.Nodes;
using StepDistill.Student.Checkpoint;
using StepDistill.Training;

namespace StepDistill.Cli.Tests;

/// <summary>A training process killed with SIGKILL and started again ends with the weights of an uninterrupted run.</summary>
public sealed class KillResumeTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("stepdistill-kill-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    static string[] TrainArgs(string data, string outDir) =>
    [
        "train", "--data", data, "--method", "step-by-step", "--labels", "teacher", "--model", "tiny", "--max-steps", "300",
        "--eval-every", "8", "--log-every", "1", "--batch-size", "8", "--max-new-tokens", "3", "--dropout", "0.1",
        "--lr", "0.003", "--threads", "1", "--device", "cpu", "--out", outDir,
    ];

    static Process Start(string[] args)
    {
        var cli = typeof(App).Assembly.Location; // stepdistill.dll beside the tests
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(cli);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    static byte[][] Weights(string checkpoint)
    {
        var t = Safetensors.Load(Path.Combine(checkpoint, T5Checkpoint.WeightsFile));
        var bytes = t.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value.bytes.ToArray()).ToArray();
        foreach (var v in t.Values) v.Dispose();
        return bytes;
    }

    [Fact]
    public async Task SigkillMidRun_ThenRerun_GivesBitIdenticalFinalWeights()
    {
        var data = Path.Combine(dir, "data");
        Directory.CreateDirectory(data);
        var rng = new Random(5);
        File.WriteAllLines(Path.Combine(data, "train.jsonl"), Enumerable.Range(0, 48).Select(i =>
        {
            int a = rng.Next(10), b = rng.Next(10);
            return new JsonObject { ["id"] = $"t{i}", ["input"] = $"{a}+{b}", ["label"] = $"{a + b}", ["rationale"] = $"{a} plus {b}", ["teacher_label"] = $"{a + b}" }.ToJsonString();
        }));

        var straight = Path.Combine(dir, "straight");
        using (var p = Start(TrainArgs(data, straight))) { await p.WaitForExitAsync(); Assert.Equal(0, p.ExitCode); }

        // Kill once the step-16 checkpoint exists and training has gone past it (long before step 300).
        var killed = Path.Combine(dir, "killed");
        using (var p = Start(TrainArgs(data, killed)))
        {
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (DateTime.UtcNow < deadline && !p.HasExited)
            {
                var metrics = Path.Combine(killed, Trainer.MetricsFile);
                if (Directory.Exists(Path.Combine(killed, "checkpoint-0000016")) && File.Exists(metrics)
                    && File.ReadAllLines(metrics).Any(l => l.Contains("\"step\":20,", StringComparison.Ordinal)))
                    break;
                await Task.Delay(20);
            }
            Assert.False(p.HasExited, "training finished before it could be killed");
            p.Kill(); // SIGKILL on Linux: no cleanup, no final checkpoint
            await p.WaitForExitAsync();
        }
        Assert.Null(Trainer.LatestCheckpoint(killed) is { } c && c.EndsWith("0000300", StringComparison.Ordinal) ? c : null);

        using (var p = Start(TrainArgs(data, killed))) { await p.WaitForExitAsync(); Assert.Equal(0, p.ExitCode); }
        Assert.Equal(Weights(Trainer.LatestCheckpoint(straight)!), Weights(Trainer.LatestCheckpoint(killed)!));
        Assert.Equal(Weights(Path.Combine(straight, "best")), Weights(Path.Combine(killed, "best")));
    }
}
