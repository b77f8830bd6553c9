using System.ComponentModel;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Cli.Progress;
using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Student.Model;
using StepDistill.Training;

namespace StepDistill.Cli.Commands;

/// <summary><c>stepdistill train</c>: trains a student with standard fine-tuning/distillation or step-by-step.</summary>
internal sealed class TrainCommand(IAnsiConsole console) : AsyncCommand<TrainCommand.Settings>
{
    public sealed class Settings : TrainingSettings
    {
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var ct = CliRunner.Cancellation(cancellationToken);
        if (s.Out is not null) OutputPaths.Check(s.Out, "--out", isFolder: true, (s.Data, "--data"), (s.Dev, "--dev"));
        var metric = s.MetricKind;
        var options = await s.ToOptionsAsync(ct);
        var train = await DatasetLoader.LoadAsync(s.Data!, "train", metric, ct);
        var dev = await LoadDevAsync(s, metric, ct);
        dev?.RequireGoldLabels(); // before training, not at the first evaluation
        var label = $"{options.Method.Name()}/{options.Labels.Name()} {options.Fraction * 100:0.#}%";
        CliConsole.Error.MarkupLine(Markup.Escape($"train: {train.Count} examples from {train.Source} ({train.Split}); dev: " +
            $"{(dev is null ? "none" : $"{dev.Count} from {dev.Source}")}"));
        var display = new TrainingDisplay(label);
        var result = await display.RunAsync(obs => new Trainer(options, s.Out!, obs).RunAsync(train, dev, ct));

        var table = new Table().AddColumns("run", "value");
        table.AddRow("steps", result.Steps.ToString(CultureInfo.InvariantCulture));
        table.AddRow("training examples", result.TrainExamples.ToString(CultureInfo.InvariantCulture));
        table.AddRow("best dev accuracy", result.BestDevAccuracy is { } a ? $"{a * 100:F2}% (step {result.BestStep})" : "n/a (no dev set)");
        table.AddRow("training time", $"{result.TrainSeconds:F1} s");
        table.AddRow("best checkpoint", Markup.Escape(result.BestCheckpoint));
        console.Write(table);
        return 0;
    }

    internal static async Task<Dataset?> LoadDevAsync(TrainingSettings s, MetricKind? metric, CancellationToken ct)
    {
        if (s.Dev is not null) return await DatasetLoader.LoadAsync(s.Dev, "dev", metric, ct);
        if (!Directory.Exists(s.Data)) return null; // a single JSONL file has no dev split: pass --dev
        try { return await DatasetLoader.LoadAsync(s.Data, "dev", metric, ct); }
        catch (StepDistillException e)
        {
            CliConsole.Error.MarkupLine(Markup.Escape($"no dev split ({e.Message}); training without evaluation"));
            return null;
        }
    }
}
