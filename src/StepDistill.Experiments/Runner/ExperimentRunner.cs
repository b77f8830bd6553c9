using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using StepDistill.Data;
using StepDistill.Inference;
using StepDistill.Training;

namespace StepDistill.Experiments.Runner;

/// <summary>The outcome of one finished cell, saved as <c>cells/&lt;key&gt;/cell.json</c>.</summary>
internal sealed record CellResult(Cell Cell, double EvalAccuracy, int EvalCount, string EvalSplit, double? BestDevAccuracy,
                                double TrainSeconds, int TrainExamples)
{
    public JsonObject ToJson() => new()
    {
        ["key"] = Cell.Key, ["method"] = Cell.Method.Method.Name(), ["labels"] = Cell.Method.Labels.Name(),
        ["alpha"] = Cell.Alpha, ["fraction"] = Cell.Fraction, ["seed"] = Cell.Seed, ["model"] = Cell.Model,
        [EvalSplit == "test" ? "test_accuracy" : "dev_accuracy_final"] = EvalAccuracy,
        ["eval_split"] = EvalSplit, ["eval_n"] = EvalCount, ["best_dev_accuracy"] = BestDevAccuracy,
        ["train_seconds"] = Math.Round(TrainSeconds, 2), ["train_examples"] = TrainExamples,
    };

    public static CellResult FromJson(Cell cell, JsonNode j)
    {
        var split = j["eval_split"]!.GetValue<string>();
        return new CellResult(cell, j[split == "test" ? "test_accuracy" : "dev_accuracy_final"]!.GetValue<double>(), j["eval_n"]!.GetValue<int>(), split,
                              j["best_dev_accuracy"]?.GetValue<double>(), j["train_seconds"]!.GetValue<double>(), j["train_examples"]!.GetValue<int>());
    }
}

/// <summary>One cell for a child process to train: its options file (<see cref="TrainingOptions.ToJson"/>'s form), data and run folder.</summary>
internal sealed record CellJob(string OptionsFile, string TrainPath, string? DevPath, string OutDir);

/// <summary>The command that trains <paramref name="job"/> in a child process (output is redirected by the runner).</summary>
internal delegate ProcessStartInfo CellProcess(CellJob job);

/// <summary>
/// Runs every cell of a grid: trains a student (in this process, or as parallel child processes of the CLI, one
/// libtorch thread each), evaluates its best checkpoint, and records the result. Finished cells are skipped on a
/// re-run; an interrupted cell resumes from its last checkpoint.
/// </summary>
internal sealed class ExperimentRunner
{
    readonly TrainingOptions baseOptions;
    readonly string outDir;
    readonly Action<string> log;

    public ExperimentRunner(TrainingOptions baseOptions, string outDir, Action<string>? log = null)
    {
        this.baseOptions = baseOptions;
        this.outDir = Path.GetFullPath(outDir);
        this.log = log ?? (_ => { });
    }

    /// <summary>How to start a child process that trains one cell (the CLI supplies it); null runs cells in-process.</summary>
    public CellProcess? ChildProcess { get; init; }
    public int Parallel { get; init; } = 1;

    /// <summary>Set for child processes: the CLI exits when its standard input closes (its parent died).</summary>
    public const string ExitWithParentVariable = "STEPDISTILL_EXIT_WITH_PARENT";

    public string CellDir(Cell cell) => Path.Combine(outDir, "cells", cell.Key);

    public async Task<IReadOnlyList<CellResult>> RunAsync(ExperimentGrid grid, string trainPath, string? devPath, Dataset evalSet,
                                                          CancellationToken ct = default)
    {
        var cells = grid.Cells().ToList();
        var results = new CellResult?[cells.Count];
        var todo = new List<int>();
        for (var i = 0; i < cells.Count; i++)
        {
            var file = Path.Combine(CellDir(cells[i]), "cell.json");
            if (File.Exists(file)) results[i] = CellResult.FromJson(cells[i], JsonNode.Parse(File.ReadAllText(file))!);
            else todo.Add(i);
        }
        if (cells.Count > todo.Count) log($"{cells.Count - todo.Count} of {cells.Count} cells already finished; skipping them");

        var train = await DatasetLoader.LoadAsync(trainPath, "train", evalSet.Metric, ct);
        var dev = devPath is null ? null : await DatasetLoader.LoadAsync(devPath, "dev", evalSet.Metric, ct);
        var done = cells.Count - todo.Count;
        using var gate = new SemaphoreSlim(Math.Max(1, ChildProcess is null ? 1 : Parallel));
        var evalLock = new SemaphoreSlim(1);
        var tasks = todo.Select(async i =>
        {
            await gate.WaitAsync(ct);
            try
            {
                var cell = cells[i];
                var options = OptionsFor(cell);
                var dir = CellDir(cell);
                log($"cell {cell.Key}: training");
                TrainingResult trained;
                if (ChildProcess is { } child) trained = await TrainInChildAsync(child, options, trainPath, devPath, dir, ct);
                else trained = await new Trainer(options, dir).RunAsync(train, dev, ct);
                await evalLock.WaitAsync(ct);
                try
                {
                    using var student = T5Student.Load(trained.BestCheckpoint);
                    var report = Predictor.Evaluate(student, evalSet, options.EvalBatchSize, options.MaxNewTokens, options.MaxInputLength, ct: ct);
                    var result = new CellResult(cell, report.Accuracy, report.Total, evalSet.Split, trained.BestDevAccuracy, trained.TrainSeconds,
                        trained.TrainExamples);
                    FileOps.WriteAllText(Path.Combine(dir, "cell.json"), result.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                    results[i] = result;
                    var n = Interlocked.Increment(ref done);
                    log(string.Create(CultureInfo.InvariantCulture, $"cell {cell.Key}: {evalSet.Split} accuracy {report.Accuracy * 100:F1}% " +
                        $"({n}/{cells.Count} done, {trained.TrainSeconds:F0} s training)"));
                }
                finally { evalLock.Release(); }
            }
            finally { gate.Release(); }
        }).ToList();
        await Task.WhenAll(tasks);
        return results.Select(r => r!).ToList();
    }

    TrainingOptions OptionsFor(Cell cell) => baseOptions with
    {
        Model = cell.Model ?? baseOptions.Model,
        Method = cell.Method.Method,
        Labels = cell.Method.Labels,
        Alpha = cell.Alpha,
        Fraction = cell.Fraction,
        Seed = cell.Seed,
        Threads = ChildProcess is null ? baseOptions.Threads : 1,
    };

    /// <summary>The file a child cell reads its options from (<see cref="TrainingOptions.ToJson"/>'s form).</summary>
    public const string OptionsFile = "options.json";

    /// <summary>
    /// Runs <c>stepdistill train</c> on the cell's options, passed as <see cref="OptionsFile"/> (the form the trainer writes
    /// in <c>run.json</c>); its log goes to <c>train.log</c> in the cell folder.
    /// </summary>
    static async Task<TrainingResult> TrainInChildAsync(CellProcess child, TrainingOptions o, string trainPath, string? devPath,
                                                        string dir, CancellationToken ct)
    {
        FileOps.CreateDirectory(dir);
        var optionsFile = Path.Combine(dir, OptionsFile);
        FileOps.WriteAllText(optionsFile, o.ToJson());
        var psi = child(new CellJob(optionsFile, trainPath, devPath, dir));
        (psi.RedirectStandardInput, psi.RedirectStandardOutput, psi.RedirectStandardError, psi.UseShellExecute) = (true, true, true, false);
        // Standard input stays open for the child's lifetime: when this process dies, even by SIGKILL, the child
        // sees it close and stops (see CliRunner), so a re-run never finds an orphan still training the cell.
        psi.Environment[ExitWithParentVariable] = "1";
        using var p = Process.Start(psi) ?? throw new StepDistillException($"could not start {psi.FileName}");
        await using var logFile = FileOps.OpenLog(Path.Combine(dir, "train.log"));
        var copyOut = p.StandardOutput.BaseStream.CopyToAsync(logFile, ct);
        var copyErr = p.StandardError.BaseStream.CopyToAsync(logFile, ct);
        try { await p.WaitForExitAsync(ct); }
        catch (OperationCanceledException) { p.Kill(entireProcessTree: true); throw; }
        await Task.WhenAll(copyOut, copyErr);
        if (p.ExitCode != 0) throw new StepDistillException($"training cell {dir} failed (exit {p.ExitCode}); see {Path.Combine(dir, "train.log")}");
        return Trainer.ReadResult(dir);
    }
}
