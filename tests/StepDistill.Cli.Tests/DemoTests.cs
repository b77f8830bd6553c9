using System.Buffers.Binary;
using System.Text.Json.Nodes;
using StepDistill.Tests;

namespace StepDistill.Cli.Tests;

/// <summary>The README's main command, in its quick form, end to end.</summary>
public sealed class DemoTests : ScratchFolderTest
{
    [Fact]
    public async Task QuickDemo_WritesReportPlotAndResults_AndPrintsTheTable()
    {
        var quick = StepDistill.Experiments.Demo.DemoOptions.Quick;
        var cellCount = 2 * quick.Fractions.Count + 1; // both methods at every fraction, and the larger student
        var (rc, stdout, stderr) = await CliHarness.Run("demo", "--quick", "--out", dir);
        Assert.True(rc == 0, stderr);
        Assert.Contains("SIMULATED", stderr);

        // The printed table: a header with the fractions and one row per method (the larger student's at 100% only).
        var rows = stdout.Split('\n').Where(l => l.StartsWith('|')).ToList();
        Assert.Equal(5, rows.Count);
        Assert.Contains("12.5%", rows[0]);
        Assert.Contains("100%", rows[0]);
        foreach (var method in new[] { "standard fine-tuning", "step-by-step" })
        {
            var cells = rows.Single(r => r.StartsWith($"| {method} ", StringComparison.Ordinal)).Split('|',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.Equal(1 + quick.Fractions.Count, cells.Length);
            Assert.All(cells.Skip(1), c => Assert.InRange(double.Parse(c, System.Globalization.CultureInfo.InvariantCulture), 0, 100));
        }

        Assert.Contains("mini student", rows.Single(r => r.StartsWith("| standard fine-tuning, ", StringComparison.Ordinal)));

        // The three headlines, printed and at the top of the report.
        string[] claims = ["Less data: ", "Smaller model: ", "Beyond the teacher: "];
        var headlines = stdout.Split('\n').Where(l => l.StartsWith("- ", StringComparison.Ordinal)).Select(l => l[2..].Trim()).ToList();
        Assert.Equal(claims, headlines.Select(h => claims.Single(c => h.StartsWith(c, StringComparison.Ordinal))));
        Assert.Contains("simulated teacher", headlines[2]);

        var md = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.Contains("Teacher accuracy", md);
        Assert.Contains("SIMULATED", md);
        Assert.True(md.IndexOf(headlines[0], StringComparison.Ordinal) < md.IndexOf("| method |", StringComparison.Ordinal));
        Assert.Contains("## How sure we are", md);
        Assert.Contains("Always answering the most frequent training label", md);

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "results.json")))!;
        Assert.InRange(json["teacher_accuracy"]!.GetValue<double>(), 0.5, 1);
        Assert.InRange(json["teacher_eval_accuracy"]!.GetValue<double>(), 0.5, 1);
        Assert.Equal(headlines, json["headlines"]!.AsArray().Select(h => h!.GetValue<string>()));
        var runs = json["runs"]!.AsArray();
        Assert.Equal(cellCount, runs.Count);
        Assert.Equal(new[] { "standard", "step-by-step" }, runs.Select(r => r!["method"]!.GetValue<string>()).Distinct().Order());
        Assert.Equal(quick.Fractions.Order(), runs.Select(r => r!["fraction"]!.GetValue<double>()).Distinct().Order());
        Assert.Equal("mini", runs.Single(r => r!["model"] is not null)!["model"]!.GetValue<string>());
        Assert.All(runs, r => { Assert.Equal(0, r!["seed"]!.GetValue<int>()); Assert.InRange(r["test_accuracy"]!.GetValue<double>(), 0, 1); });

        // One paired comparison per fraction (one seed: no interval, but a won/tied/lost count).
        var paired = json["paired"]!.AsArray();
        Assert.Equal(quick.Fractions.Count, paired.Count);
        Assert.All(paired, p => Assert.Equal(1, p!["wins"]!.GetValue<int>() + p["ties"]!.GetValue<int>() + p["losses"]!.GetValue<int>()));

        // Both students learned: on all the data each is well above always giving the most frequent answer.
        var constant = json["constant_answer"]!["accuracy"]!.GetValue<double>();
        foreach (var method in new[] { "standard", "step-by-step" })
            Assert.True(runs.Single(r => r!["method"]!.GetValue<string>() == method && r["fraction"]!.GetValue<double>() == 1.0 && r["model"] is null)!
                ["test_accuracy"]!.GetValue<double>() >= constant + 0.15, $"{method} did not learn (constant answer {constant:P1})");

        var png = File.ReadAllBytes(Path.Combine(dir, "accuracy_vs_data.png"));
        Assert.Equal(0x89, png[0]);
        Assert.Equal("PNG", System.Text.Encoding.ASCII.GetString(png, 1, 3));
        Assert.Equal(800, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.Equal(500, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));

        // A second run reuses the teacher's cached answers and the finished students.
        (rc, _, stderr) = await CliHarness.Run("demo", "--quick", "--out", dir);
        Assert.True(rc == 0, stderr);
        Assert.Contains($"{quick.Task.TrainSize} already done", stderr);
        Assert.Contains($"{cellCount} of {cellCount} cells already finished", stderr);
    }
}
