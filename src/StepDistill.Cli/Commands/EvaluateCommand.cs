using System.ComponentModel;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Inference;
using StepDistill.Training;

namespace StepDistill.Cli.Commands;

/// <summary><c>stepdistill evaluate</c>: accuracy of a student on one split (only that split is read).</summary>
internal sealed class EvaluateCommand(IAnsiConsole console) : AsyncCommand<EvaluateCommand.Settings>
{
    public sealed class Settings : DatasetModelSettings
    {
        [CommandOption("--split <SPLIT>"), DefaultValue("dev"), Description("dev or test.")]
        public string Split { get; init; } = "dev";

        [CommandOption("-d|--data <PATH>", isRequired: true)]
        [Description("JSONL file, folder with <split>.jsonl, or official-layout folder.")]
        public string? Data { get; init; }

        [CommandOption("--predictions <FILE>")]
        [Description("Write one JSON line per example: id, prediction, label, correct.")]
        public string? Predictions { get; init; }

        [CommandOption("--max-input-length <N>")]
        [DefaultValue(512)]
        public int MaxInputLength { get; init; } = 512;

        [CommandOption("--metric <M>")]
        [Description("exact or equation (default: the dataset's, or the model's).")]
        public string? Metric { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var ct = CliRunner.Cancellation(cancellationToken);
        DatasetLoader.NormalizeSplit(s.Split); // an unknown split fails here, also for a single JSONL file
        if (s.Predictions is not null) OutputPaths.Check(s.Predictions, "--predictions", isFolder: false, (s.Data, "--data"));
        var (dir, student) = await s.LoadStudentAsync(ct);
        using var _ = student;
        MetricKind? metric = s.Metric is not null ? s.ParseMetric(s.Metric)
            : student.Info?.Metric is { } im && MetricKinds.TryParse(im, out var m2) && !Directory.Exists(s.Data) ? m2 : null;
        var data = await DatasetLoader.LoadAsync(s.Data!, s.Split, metric, ct);
        if (data.Count == 0) throw new StepDistillException($"{data.Source}: the {data.Split} split is empty");
        data.RequireGoldLabels();
        var report = Predictor.Evaluate(student, data, s.BatchSizeOrDefault, s.MaxNewTokensOrDefault, s.MaxInputLength, ct: ct);
        if (s.Predictions is not null) await report.WritePredictionsAsync(s.Predictions, ct);
        var writer = console.Profile.Out.Writer;
        if (s.Json)
            writer.WriteLine(new JsonObject
            {
                ["accuracy"] = report.Accuracy, ["correct"] = report.Correct, ["n"] = report.Total,
                ["split"] = data.Split, ["data"] = data.Source, ["model"] = dir, ["metric"] = MetricKinds.Name(data.Metric),
            }.ToJsonString());
        else
            writer.WriteLine($"{data.Name} {data.Split}: accuracy {report}");
        return 0;
    }
}
