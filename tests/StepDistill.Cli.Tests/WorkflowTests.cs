using System.Text.Json.Nodes;
using StepDistill.Student.Checkpoint;
using StepDistill.Tests;

namespace StepDistill.Cli.Tests;

/// <summary>generate / train / evaluate / predict through the command line, as a user runs them.</summary>
[Collection("console")]
public sealed class WorkflowTests : ScratchFolderTest
{
    static JsonNode Reference(string folder) => JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "reference.json")))!;

    [Trait("Category", "SharedData")]
    [SkippableTheory]
    [InlineData("t5-tiny-v1_0")]
    [InlineData("t5-tiny-v1_1")]
    public async Task Generate_Json_IdsEqualHuggingFaceGenerate(string checkpoint)
    {
        var folder = SharedData.Require($"fixtures/t5/{checkpoint}");
        var reference = Reference(folder);
        var text = reference["forward"]!["input_texts"]![0]!.GetValue<string>();
        foreach (var (beams, key) in new[] { (1, "greedy"), (3, "beam3") })
        {
            var (rc, stdout, stderr) = await CliHarness.Run("generate", "--model", folder, "--input", text, "--max-new-tokens", "12", "--num-beams",
                beams.ToString(), "--json", "--device", "cpu");
            Assert.True(rc == 0, stderr);
            var json = JsonNode.Parse(stdout.Trim())!;
            var expected = reference["generate"]![key]!["sequences"]![0]!.AsArray().Select(x => x!.GetValue<long>());
            Assert.Equal(expected, json["ids"]!.AsArray().Select(x => x!.GetValue<long>()));
            Assert.NotNull(json["text"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task TrainEvaluatePredict_EndToEnd_OnJsonl()
    {
        var data = await SumsData.WriteFolderAsync(Path.Combine(dir, "data"), 40, 10);
        var run = Path.Combine(dir, "run");
        var (rc, stdout, stderr) = await CliHarness.Run("train", "--data", data, "--method", "step-by-step", "--labels", "teacher",
            "--model", "tiny", "--max-steps", "6", "--eval-every", "3", "--log-every", "2", "--batch-size", "8", "--max-new-tokens", "4",
            "--threads", "1", "--device", "cpu", "--out", run);
        Assert.True(rc == 0, stderr);
        Assert.Contains("best dev accuracy", stdout);
        Assert.Contains("step 6/6", stderr);       // plain progress lines when not on a terminal
        Assert.Contains("dev accuracy", stderr);
        Assert.True(File.Exists(Path.Combine(run, "best", T5Checkpoint.WeightsFile)));

        // evaluate --json reads only the split asked for: a folder holding only a test file works.
        var testOnly = Path.Combine(dir, "test-only");
        Directory.CreateDirectory(testOnly);
        await SumsData.WriteAsync(Path.Combine(testOnly, "test.jsonl"), "test", 7, 3, withRationale: false);
        var predictions = Path.Combine(dir, "pred.jsonl");
        (rc, stdout, stderr) = await CliHarness.Run("evaluate", "--model", Path.Combine(run, "best"), "--data", testOnly, "--split", "test",
            "--json", "--predictions", predictions, "--max-new-tokens", "4", "--device", "cpu");
        Assert.True(rc == 0, stderr);
        var result = JsonNode.Parse(stdout.Trim())!;
        Assert.Equal(7, result["n"]!.GetValue<int>());
        var accuracy = result["accuracy"]!.GetValue<double>();
        Assert.InRange(accuracy, 0, 1);
        var rows = File.ReadAllLines(predictions).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(7, rows.Count);
        Assert.All(rows, r => { Assert.NotNull(r["id"]); Assert.NotNull(r["prediction"]); Assert.NotNull(r["label"]); Assert.NotNull(r["correct"]); });
        Assert.Equal(accuracy, rows.Count(r => r["correct"]!.GetValue<bool>()) / 7.0, 6);

        // predict --explain returns label and rationale for every line, in input order.
        var output = Path.Combine(dir, "out.jsonl");
        (rc, _, stderr) = await CliHarness.Run("predict", "--model", Path.Combine(run, "best"), "--input", Path.Combine(data, "dev.jsonl"),
            "--output", output, "--explain", "--max-new-tokens", "4", "--max-rationale-tokens", "8", "--device", "cpu");
        Assert.True(rc == 0, stderr);
        var predicted = File.ReadAllLines(output).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(SumsData.Sums("dev", 10, 2).Examples.Select(e => e.Id), predicted.Select(p => p["id"]!.GetValue<string>()));
        Assert.All(predicted, p => { Assert.NotNull(p["prediction"]); Assert.NotNull(p["rationale"]); });

        // Re-running the finished command resumes from its last checkpoint and does no more steps.
        (rc, stdout, stderr) = await CliHarness.Run("train", "--data", data, "--method", "step-by-step", "--labels", "teacher",
            "--model", "tiny", "--max-steps", "6", "--eval-every", "3", "--log-every", "2", "--batch-size", "8", "--max-new-tokens", "4",
            "--threads", "1", "--device", "cpu", "--out", run);
        Assert.True(rc == 0, stderr);
        Assert.Contains("resuming from checkpoint-0000006", stderr);
    }

    [Fact]
    public async Task BadInput_GivesOneClearErrorLine()
    {
        var (rc, _, stderr) = await CliHarness.Run("train", "--data", Path.Combine(dir, "missing.jsonl"), "--out", Path.Combine(dir, "r"), "--device", "cpu");
        Assert.Equal(1, rc);
        Assert.Contains("missing.jsonl", stderr);

        var bad = Path.Combine(dir, "bad.jsonl");
        File.WriteAllLines(bad, new[] { "{\"id\": \"a\", \"input\": \"x\", \"label\": \"y\"}", "{not json" });
        (rc, _, stderr) = await CliHarness.Run("train", "--data", bad, "--out", Path.Combine(dir, "r2"), "--device", "cpu");
        Assert.Equal(1, rc);
        Assert.Contains("bad.jsonl:2", stderr);

        (rc, _, stderr) = await CliHarness.Run("generate", "--model", "./no/such/folder", "--input", "x");
        Assert.Equal(1, rc);
        Assert.Contains("no/such/folder", stderr);

        (rc, _, stderr) = await CliHarness.Run("train", "--data", bad, "--out", Path.Combine(dir, "r3"), "--method", "sideways");
        Assert.NotEqual(0, rc);
        Assert.Contains("sideways", stderr);
    }
}
