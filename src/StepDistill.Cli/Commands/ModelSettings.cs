using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Cli.Options;
using StepDistill.Inference;
using StepDistill.Student.Generation;
using StepDistill.Training;

namespace StepDistill.Cli.Commands;

/// <summary>
/// The options of every verb that reads a trained or downloaded model (<c>tokenize</c>, <c>generate</c>, <c>evaluate</c>,
/// <c>predict</c>): the required <c>--model</c> and <c>--json</c> output.
/// </summary>
internal abstract class ModelSettings : CommonSettings
{
    [CommandOption("--json")]
    [Description("Print the result as JSON on stdout, for scripts (the verb's description names the fields).")]
    public bool Json { get; init; }

    [CommandOption("-m|--model <MODEL>", isRequired: true)]
    [Description("Checkpoint folder (e.g. RUN/best), or a Hugging Face model id such as google/flan-t5-small[[@revision]].")]
    public string? Model { get; init; }

    /// <summary>Resolves <c>--model</c> (downloading it if needed), applies <c>--device</c>/<c>--threads</c> and loads the student.</summary>
    public async Task<(string Folder, T5Student Student)> LoadStudentAsync(CancellationToken ct)
    {
        var folder = await ModelLocation.ResolveAsync(Model, ct);
        return (folder, T5Student.Load(folder, Apply()));
    }
}

/// <summary>The options of verbs that generate with a model: <c>--max-new-tokens</c>.</summary>
internal abstract class GenerationSettings : ModelSettings
{
    [CommandOption("--max-new-tokens <N>")]
    [DefaultFrom(typeof(GenerationOptions), nameof(GenerationOptions.MaxNewTokens), "Most tokens to generate after the decoder start token.")]
    public int? MaxNewTokens { get; init; }

    /// <summary><c>--max-new-tokens</c>, or the library's default.</summary>
    public int MaxNewTokensOrDefault => MaxNewTokens ?? new GenerationOptions().MaxNewTokens;

    public override ValidationResult Validate() =>
        MaxNewTokens is < 1 ? ValidationResult.Error("--max-new-tokens must be at least 1") : base.Validate();
}

/// <summary>The options of verbs that run a model over a dataset (<c>evaluate</c>, <c>predict</c>).</summary>
internal abstract class DatasetModelSettings : GenerationSettings
{
    [CommandOption("--batch-size <N>")]
    [DefaultFrom(typeof(TrainingOptions), nameof(TrainingOptions.EvalBatchSize), "Examples per batch.")]
    public int? BatchSize { get; init; }

    /// <summary><c>--batch-size</c>, or the library's evaluation batch size.</summary>
    public int BatchSizeOrDefault => BatchSize ?? new TrainingOptions().EvalBatchSize;
}
