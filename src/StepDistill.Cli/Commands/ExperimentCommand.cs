using System.ComponentModel;
using System.Diagnostics;
using System.Reflection;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Data;
using StepDistill.Experiments.Runner;

namespace StepDistill.Cli.Commands;

/// <summary>
/// <c>stepdistill experiment</c>: methods × data fractions × seeds (× α) on any dataset <c>train</c> reads, resumable,
/// with a report, a plot and a JSON summary.
/// </summary>
internal sealed class ExperimentCommand(IAnsiConsole console) : AsyncCommand<ExperimentCommand.Settings>
{
    public sealed class Settings : TrainingSettings
    {
        [CommandOption("--methods <LIST>")]
        [Description("Comma-separated method[[:labels]], e.g. standard:gold,standard:teacher,step-by-step:teacher (the default).")]
        [DefaultValue("standard:gold,standard:teacher,step-by-step:teacher")]
        public string Methods { get; init; } = "standard:gold,standard:teacher,step-by-step:teacher";

        [CommandOption("--fractions <LIST>")]
        [DefaultValue("0.25,0.5,1")]
        [Description("Shares of the training set. Default 0.25,0.5,1.")]
        public string Fractions { get; init; } = "0.25,0.5,1";

        [CommandOption("--seeds <LIST>")]
        [DefaultValue("0,1")]
        [Description("Seeds (init, subsample, order). Default 0,1.")]
        public string Seeds { get; init; } = "0,1";

        [CommandOption("--alphas <LIST>")]
        [DefaultValue("0.5")]
        [Description("α values for step-by-step cells. Default 0.5.")]
        public string Alphas { get; init; } = "0.5";

        [CommandOption("--parallel <N>")]
        [DefaultValue(1)]
        [Description("Cells trained at once, as child processes with one thread each. Default 1 (in-process).")]
        public int Parallel { get; init; } = 1;

        [CommandOption("--eval-split <SPLIT>")]
        [DefaultValue("dev")]
        [Description("Split each cell's best checkpoint is scored on: dev (default) or test.")]
        public string EvalSplit { get; init; } = "dev";

        [CommandOption("--title <TEXT>")]
        [Description("Report title.")]
        public string? Title { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var ct = CliRunner.Cancellation(cancellationToken);
        var clock = Stopwatch.StartNew();
        var metric = s.MetricKind;
        var options = await s.ToOptionsAsync(ct);
        var methods = s.Methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(MethodSpec.Parse).ToList();
        var grid = new ExperimentGrid(methods,
                                      ExperimentGrid.ParseDoubles(s.Fractions, "--fractions"), ExperimentGrid.ParseInts(s.Seeds, "--seeds"),
                                      ExperimentGrid.ParseDoubles(s.Alphas, "--alphas"));
        var train = await DatasetLoader.LoadAsync(s.Data!, "train", metric, ct);
        var dev = await TrainCommand.LoadDevAsync(s, metric, ct);
        var devPath = s.Dev ?? (dev is null ? null : s.Data);
        var eval = DatasetLoader.NormalizeSplit(s.EvalSplit) == "dev"
            ? dev ?? throw new StepDistillException($"{s.Data}: no dev split to evaluate on (pass --dev, or --eval-split test)")
            : File.Exists(s.Data)
                // A JSONL file is its own (training) split: scoring "test" on it would score the training data.
                ? throw new StepDistillException($"{s.Data}: --eval-split test needs the folder holding train.jsonl and test.jsonl, not a file")
                : await DatasetLoader.LoadAsync(s.Data!, "test", metric, ct);
        var runner = new ExperimentRunner(options, s.Out!, Progress.ConsoleProgress.Logger)
        {
            ChildProcess = s.Parallel > 1 ? Self() : null,
            Parallel = s.Parallel,
        };
        var results = await runner.RunAsync(grid, s.Data!, devPath, eval, ct);
        var info = new ReportInfo(s.Title ?? $"{train.Name}: step-by-step vs baselines", Setup(s, options, train, eval), null, null, train.Count,
                                  new Dictionary<string, double>
                                  {
                                      ["experiment (this invocation)"] = clock.Elapsed.TotalSeconds,
                                      ["training, all cells"] = results.Sum(r => r.TrainSeconds)
                                  });
        var table = Report.Write(s.Out!, info, results);
        console.Profile.Out.Writer.WriteLine(table);
        CliConsole.Error.MarkupLine(Markup.Escape($"report: {Path.Combine(s.Out!, Report.MarkdownFile)}"));
        return 0;
    }

    static string MetricName(Dataset d) => Evaluation.MetricKinds.Name(d.Metric);

    static string Schedule(Training.TrainingOptions o) =>
        $"lr {o.LearningRate?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "default"}, warm-up {o.WarmupSteps}, schedule {o.Schedule}";

    static string Setup(Settings s, Training.TrainingOptions o, Dataset train, Dataset eval) =>
        $"""
        - data: `{train.Source}` ({train.Count} training examples; scored on {eval.Split}, {eval.Count} examples, metric {MetricName(eval)})
        - student: `{o.Model}` (tokenizer `{o.Tokenizer}`), {o.MaxSteps} steps, batch {o.BatchSize}, {Schedule(o)}
        - grid: methods {s.Methods}; fractions {s.Fractions}; seeds {s.Seeds}; α {s.Alphas}
        - command: `stepdistill {string.Join(' ', Environment.GetCommandLineArgs().Skip(1))}`
        """;

    /// <summary>This CLI as a child process: the apphost, or <c>dotnet stepdistill.dll</c>.</summary>
    internal static CellProcess Self()
    {
        var process = Environment.ProcessPath ?? throw new StepDistillException("cannot find this program's path to start cells in parallel; use --parallel 1");
        var entry = Assembly.GetEntryAssembly()?.Location;
        return Path.GetFileNameWithoutExtension(process) == "dotnet" && entry is not null ? TrainCell(process, [entry]) : TrainCell(process, []);
    }

    /// <summary><c>FILE PREFIX... train --options ... --data ... --out ... [--dev ...]</c> for one experiment cell.</summary>
    internal static CellProcess TrainCell(string file, string[] prefix) => job =>
    {
        var psi = new ProcessStartInfo(file);
        foreach (var a in prefix) psi.ArgumentList.Add(a);
        foreach (var a in new[] { "train", "--options", job.OptionsFile, "--data", job.TrainPath, "--out", job.OutDir }) psi.ArgumentList.Add(a);
        if (job.DevPath is not null) { psi.ArgumentList.Add("--dev"); psi.ArgumentList.Add(job.DevPath); }
        return psi;
    };
}
