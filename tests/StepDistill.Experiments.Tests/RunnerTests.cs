using System.Buffers.Binary;
using System.Text.Json.Nodes;
using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Experiments.Runner;
using StepDistill.Tests;
using StepDistill.Training;

namespace StepDistill.Experiments.Tests;

/// <summary>The experiment grid, its resumable runner and the report (no shared fixtures needed).</summary>
public sealed class RunnerTests : ScratchFolderTest
{
    [Fact]
    public void Grid_EnumeratesEveryCell_WithStableKeys()
    {
        var grid = new ExperimentGrid([MethodSpec.Parse("standard"), MethodSpec.Parse("step-by-step")], [0.125, 1.0], [0, 1], [0.3, 0.5]);
        var cells = grid.Cells().ToList();
        Assert.Equal(2 * 2 * (1 + 2), cells.Count); // α varies only for step-by-step
        Assert.Equal(cells.Count, cells.Select(c => c.Key).Distinct().Count());
        Assert.Equal(LabelSource.Gold, MethodSpec.Parse("standard").Labels);
        Assert.Equal(LabelSource.Teacher, MethodSpec.Parse("step-by-step").Labels);
        Assert.Equal("standard-teacher-f0.125-s0", new Cell(MethodSpec.Parse("standard:teacher"), 0.125, 0, 0.5).Key);
        Assert.Throws<StepDistillException>(() => ExperimentGrid.ParseDoubles("0.5,x", "--fractions"));
    }

    [Fact]
    public async Task Runner_TrainsEveryCell_AndARerunSkipsFinishedCells()
    {
        var data = await SumsData.WriteFolderAsync(Path.Combine(dir, "data"), 32, 8);
        var options = new TrainingOptions { Model = "tiny", MaxSteps = 3, BatchSize = 8, EvalEvery = 3, MaxNewTokens = 3, Threads = 1 };
        var grid = new ExperimentGrid([MethodSpec.Parse("standard:gold"), MethodSpec.Parse("step-by-step:teacher")], [0.5, 1.0], [0], [0.5]);
        var eval = SumsData.Sums("test", 10, 3) with { Split = "test" };
        var log = new List<string>();
        var runner = new ExperimentRunner(options, Path.Combine(dir, "out"), log.Add);
        var first = await runner.RunAsync(grid, data, data, eval);
        Assert.Equal(4, first.Count);
        Assert.All(first, r => { Assert.Equal(10, r.EvalCount); Assert.Equal("test", r.EvalSplit); Assert.InRange(r.EvalAccuracy, 0, 1); });
        Assert.Equal(16, first.Single(r => r.Cell.Fraction == 0.5 && r.Cell.Method.Method == Method.Standard).TrainExamples);

        var stamps = grid.Cells().Select(c => File.GetLastWriteTimeUtc(Path.Combine(runner.CellDir(c), "cell.json"))).ToList();
        log.Clear();
        var second = await runner.RunAsync(grid, data, data, eval);
        Assert.Contains(log, l => l.Contains("4 of 4 cells already finished"));
        Assert.DoesNotContain(log, l => l.Contains(": training"));
        Assert.Equal(stamps, grid.Cells().Select(c => File.GetLastWriteTimeUtc(Path.Combine(runner.CellDir(c), "cell.json"))));
        Assert.Equal(first.Select(r => r.EvalAccuracy), second.Select(r => r.EvalAccuracy));

        // A grid with one more fraction trains only the new cells.
        log.Clear();
        var bigger = grid with { Fractions = [0.25, 0.5, 1.0] };
        var third = await runner.RunAsync(bigger, data, data, eval);
        Assert.Equal(6, third.Count);
        Assert.Equal(2, log.Count(l => l.EndsWith(": training", StringComparison.Ordinal)));
    }

    [Fact]
    public void Report_WritesTableJsonAndAPngOfTheExpectedSize()
    {
        var results = new List<CellResult>();
        foreach (var seed in new[] { 0, 1 })
            foreach (var f in new[] { 0.125, 0.5, 1.0 })
            {
                results.Add(new CellResult(new Cell(MethodSpec.Parse("standard:gold"), f, seed, 0.5), 0.2 + f / 4 + seed * 0.01, 100, "test", 0.3, 10,
                    (int)(f * 80)));
                results.Add(new CellResult(new Cell(MethodSpec.Parse("step-by-step:teacher"), f, seed, 0.5), 0.3 + f / 4 - seed * 0.01, 100, "test",
                    0.4, 20, (int)(f * 80)));
            }
        var info = new ReportInfo("Test report", "- setup line", 0.91, "simulated teacher", 80, new Dictionary<string, double> { ["all"] = 12.3 });
        var table = Report.Write(dir, info, results);

        // The table: header, separator, one row per method with a number per fraction.
        var rows = table.Trim().Split('\n');
        Assert.Equal(4, rows.Length);
        Assert.Contains("12.5% (10)", rows[0]);
        var dss = rows.Single(r => r.StartsWith("| step-by-step", StringComparison.Ordinal)).Split('|', StringSplitOptions.TrimEntries);
        Assert.Equal("32.6 ± 0.5", dss[2]); // seeds give 33.125% and 32.125% at 12.5%
        var md = File.ReadAllText(Path.Combine(dir, Report.MarkdownFile));
        Assert.Contains(table.Trim(), md);
        Assert.Contains("Teacher accuracy on the training set: 91.0%", md);

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, Report.JsonFile)))!;
        Assert.Equal(0.91, json["teacher_accuracy"]!.GetValue<double>());
        // Paired by seed at each fraction: differences 0.10 and 0.08, mean 0.09, s.d. 0.0141421, t(0.975, 1) = 12.706.
        var paired = json["paired"]!.AsArray();
        Assert.Equal(3, paired.Count);
        var p = paired[0]!;
        Assert.Equal((0.125, 2, 2, 0, 0), (p["fraction"]!.GetValue<double>(), p["pairs"]!.GetValue<int>(), p["wins"]!.GetValue<int>(),
            p["ties"]!.GetValue<int>(), p["losses"]!.GetValue<int>()));
        Assert.Equal(0.09, p["mean_difference"]!.GetValue<double>(), 9);
        Assert.Equal(0.09 - 0.12706, p["ci95_low"]!.GetValue<double>(), 5);
        Assert.Contains("| 12.5% (10) | step-by-step (teacher) − standard fine-tuning | +9.0 | -3.7 to +21.7 | 2 / 0 / 0 |", md);
        var runs = json["runs"]!.AsArray();
        Assert.Equal(12, runs.Count);
        Assert.All(runs, r =>
        {
            Assert.Contains(r!["method"]!.GetValue<string>(), new[] { "standard", "step-by-step" });
            Assert.InRange(r["test_accuracy"]!.GetValue<double>(), 0, 1);
            Assert.NotNull(r["fraction"]);
            Assert.NotNull(r["seed"]);
        });

        var png = File.ReadAllBytes(Path.Combine(dir, Report.PlotFile));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
        Assert.Equal(Report.PlotWidth, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.Equal(Report.PlotHeight, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
    }
}
