using System.ComponentModel;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Data;
using StepDistill.Inference;
using StepDistill.Training;

namespace StepDistill.Cli.Commands;

/// <summary><c>stepdistill predict</c>: labels (and optionally rationales) for a JSONL file of inputs.</summary>
internal sealed class PredictCommand(IAnsiConsole console) : AsyncCommand<PredictCommand.Settings>
{
    public sealed class Settings : DatasetModelSettings
    {
        [CommandOption("-i|--input <FILE>", isRequired: true)]
        [Description("JSONL with at least \"input\" (and optionally \"id\") per line.")]
        public string? Input { get; init; }

        [CommandOption("-o|--output <FILE>", isRequired: true)]
        [Description("JSONL output: id, input, prediction (and rationale with --explain).")]
        public string? Output { get; init; }

        [CommandOption("--explain")]
        [Description("Also generate the rationale (step-by-step students only).")]
        public bool Explain { get; init; }

        [CommandOption("--max-rationale-tokens <N>")]
        [DefaultValue(256)]
        public int MaxRationaleTokens { get; init; } = 256;
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var ct = CliRunner.Cancellation(cancellationToken);
        OutputPaths.Check(s.Output!, "--output", isFolder: false, (s.Input, "--input"));
        var (dir, student) = await s.LoadStudentAsync(ct);
        using var _ = student;
        if (s.Explain && student.Info?.InputPrefix != MethodNames.PredictPrefix)
            throw new StepDistillException($"{dir}: --explain needs a step-by-step student (this one was trained as " +
                $"'{student.Info?.Method ?? "a plain checkpoint"}', with no explain task)");
        var data = await DatasetLoader.LoadAsync(s.Input!, null, null, ct);
        var inputs = data.Examples.Select(e => e.Input).ToList();
        var labels = Predictor.Predict(student, inputs, Predictor.LabelPrefix(student), s.BatchSizeOrDefault, s.MaxNewTokensOrDefault, ct: ct);
        var rationales = s.Explain ? Predictor.Predict(student, inputs, MethodNames.ExplainPrefix, s.BatchSizeOrDefault, s.MaxRationaleTokens, ct: ct) : null;
        // Written whole and atomically: a stopped run leaves no half file.
        FileOps.WriteAllBytes(s.Output!, data.Examples.SelectMany((e, i) => Jsonl.Line(w =>
        {
            w.WriteStartObject();
            w.WriteString("id", e.Id);
            w.WriteString("input", e.Input);
            w.WriteString("prediction", labels[i]);
            if (rationales is not null) w.WriteString("rationale", rationales[i]);
            w.WriteEndObject();
        })).ToArray());
        if (s.Json)
            console.Profile.Out.Writer.WriteLine(new JsonObject { ["predictions"] = data.Count, ["output"] = s.Output }.ToJsonString());
        else
            CliConsole.Error.MarkupLine(Markup.Escape($"wrote {data.Count} predictions to {s.Output}"));
        return 0;
    }
}
