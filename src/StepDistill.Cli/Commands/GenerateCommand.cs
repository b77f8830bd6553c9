using System.ComponentModel;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Inference;
using StepDistill.Student;
using StepDistill.Student.Generation;
using static TorchSharp.torch;

namespace StepDistill.Cli.Commands;

/// <summary><c>stepdistill generate --model DIR --input TEXT</c>: runs the model on one input, as HF's <c>generate</c>.</summary>
internal sealed class GenerateCommand(IAnsiConsole console) : AsyncCommand<GenerateCommand.Settings>
{
    public sealed class Settings : GenerationSettings
    {
        [CommandOption("-i|--input <TEXT>", isRequired: true), Description("The input text, exactly as the model should see it (include any task prefix).")]
        public string? Input { get; init; }

        [CommandOption("--num-beams <K>")]
        [Description("1 = greedy (default); more = beam search.")]
        [DefaultValue(1)]
        public int NumBeams { get; init; } = 1;

        public override ValidationResult Validate() =>
            NumBeams < 1 ? ValidationResult.Error("--num-beams must be at least 1") : base.Validate();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var ct = CliRunner.Cancellation(cancellationToken);
        var (dir, student) = await s.LoadStudentAsync(ct);
        using var _ = student;
        using var scope = NewDisposeScope();
        var ids = student.Tokenizer.Encode(s.Input!);
        var input = tensor(ids.Select(i => (long)i).ToArray(), ScalarType.Int64).unsqueeze(0);
        var result = T5Generator.Generate(student.Model, input, ones_like(input),
            new GenerationOptions { MaxNewTokens = s.MaxNewTokensOrDefault, NumBeams = s.NumBeams }, ct);
        var outIds = result.Sequences[0];
        var text = student.Tokenizer.Decode(outIds.Select(i => (int)i), skipSpecialTokens: true);
        var writer = console.Profile.Out.Writer;
        if (s.Json)
            writer.WriteLine(new JsonObject
            {
                ["ids"] = new JsonArray(outIds.Select(i => (JsonNode)i).ToArray()),
                ["text"] = text
            }.ToJsonString(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        else
            writer.WriteLine(text);
        return 0;
    }
}
