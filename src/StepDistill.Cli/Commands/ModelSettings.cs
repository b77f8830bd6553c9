using System.ComponentModel;
using Spectre.Console.Cli;
using StepDistill.Cli.Options;
using StepDistill.Evaluation;
using StepDistill.Student.Generation;

namespace StepDistill.Cli.Commands;

/// <summary>The options of every verb that runs a trained or downloaded model: <c>--model</c> and the generation length.</summary>
internal abstract class ModelSettings : CommonSettings
{
    [CommandOption("-m|--model <MODEL>", isRequired: true)]
    [Description("Checkpoint folder (e.g. RUN/best), or a Hugging Face model id such as google/flan-t5-small[[@revision]].")]
    public string? Model { get; init; }

    [CommandOption("--max-new-tokens <N>")]
    [DefaultFrom(typeof(GenerationOptions), nameof(GenerationOptions.MaxNewTokens), "Most tokens to generate after the decoder start token.")]
    public int? MaxNewTokens { get; init; }

    /// <summary><c>--max-new-tokens</c>, or the library's default.</summary>
    public int MaxNewTokensOrDefault => MaxNewTokens ?? new GenerationOptions().MaxNewTokens;
}

/// <summary>The options of verbs that run a model over a dataset (<c>evaluate</c>, <c>predict</c>).</summary>
internal abstract class DatasetModelSettings : ModelSettings
{
    [CommandOption("--batch-size <N>")]
    [DefaultFrom(typeof(Training.TrainingOptions), nameof(Training.TrainingOptions.EvalBatchSize), "Examples per batch.")]
    public int? BatchSize { get; init; }

    /// <summary><c>--batch-size</c>, or the library's evaluation batch size.</summary>
    public int BatchSizeOrDefault => BatchSize ?? new Training.TrainingOptions().EvalBatchSize;

    /// <summary>Parses a <c>--metric</c> value the one way (errors name the flag).</summary>
    public MetricKind? ParseMetric(string? metric) =>
        metric is null ? null : OptionBinding.Translate(GetType(), () => OptionParsers.Metric(metric));
}
