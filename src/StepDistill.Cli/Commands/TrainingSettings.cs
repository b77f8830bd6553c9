using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Cli.Options;
using StepDistill.Evaluation;
using StepDistill.Student.Model;
using StepDistill.Training;
using O = StepDistill.Training.TrainingOptions;

namespace StepDistill.Cli.Commands;

/// <summary>
/// The options of <c>train</c>, shared with <c>experiment</c> (which varies method, labels, α, fraction and seed).
/// Each training option is a nullable property named like its <see cref="TrainingOptions"/> property: unset, it keeps
/// the record's default (which its help text prints), so defaults live in the record only and the mapping is by name.
/// </summary>
internal abstract class TrainingSettings : CommonSettings
{
    [CommandOption("-d|--data <PATH>", isRequired: true)]
    [Description("Training data: our JSONL file, a folder with train.jsonl/dev.jsonl, or an official-layout folder (datasets/svamp).")]
    public string? Data { get; init; }

    [CommandOption("--dev <PATH>")]
    [Description("Dev data for evaluation and checkpoint selection (default: the dev split of --data, when it has one).")]
    public string? Dev { get; init; }

    [CommandOption("--options <FILE>", IsHidden = true)]
    [Description("Training options as JSON (run.json's \"options\" form); flags given as well override it. Used for experiment cells.")]
    public string? OptionsFile { get; init; }

    [CommandOption("--method <METHOD>")]
    [DefaultFrom(typeof(O), nameof(O.Method), "standard (input -> label) or step-by-step (predict:/explain: multi-task).")]
    public string? Method { get; init; }

    [CommandOption("--labels <SOURCE>")]
    [DefaultFrom(typeof(O), nameof(O.Labels), "gold (fine-tuning) or teacher (distillation from the teacher's labels).")]
    public string? Labels { get; init; }

    [CommandOption("--alpha <A>")]
    [DefaultFrom(typeof(O), nameof(O.Alpha), "Label-loss weight: loss = A*label + (1-A)*rationale.")]
    public double? Alpha { get; init; }

    [CommandOption("-m|--model <MODEL>")]
    [DefaultFrom(typeof(O), nameof(O.Model), "Student: a from-scratch size (tiny, mini, small, t5-small; a size name is always the size: write ./tiny for a folder),"
                      + " a checkpoint folder or a Hugging Face id.")]
    public string? Model { get; init; }

    [CommandOption("--tokenizer <TOK>")]
    [DefaultFrom(typeof(O), nameof(O.Tokenizer), "From-scratch students only: byte or a folder with tokenizer files (spiece.model, tokenizer.json).")]
    public string? Tokenizer { get; init; }

    [CommandOption("--fraction <F>")]
    [DefaultFrom(typeof(O), nameof(O.Fraction), "Train on this fraction of the training set (nested subsets for the same seed).")]
    public double? Fraction { get; init; }

    [CommandOption("--seed <N>")]
    [DefaultFrom(typeof(O), nameof(O.Seed), "Seed for initialisation, subsampling, data order and dropout.")]
    public int? Seed { get; init; }

    [CommandOption("--max-steps <N>")]
    [DefaultFrom(typeof(O), nameof(O.MaxSteps), "Optimizer steps.")]
    public int? MaxSteps { get; init; }

    [CommandOption("--batch-size <N>")]
    [DefaultFrom(typeof(O), nameof(O.BatchSize), "Examples per micro-batch.")]
    public int? BatchSize { get; init; }

    [CommandOption("--grad-accum <N>")]
    [DefaultFrom(typeof(O), nameof(O.GradientAccumulation), "Micro-batches per optimizer step.")]
    public int? GradientAccumulation { get; init; }

    [CommandOption("--lr <LR>")]
    [LearningRateDescription]
    public double? LearningRate { get; init; }

    [CommandOption("--weight-decay <W>")]
    [DefaultFrom(typeof(O), nameof(O.WeightDecay), "AdamW weight decay.")]
    public double? WeightDecay { get; init; }

    [CommandOption("--warmup <N>")]
    [DefaultFrom(typeof(O), nameof(O.WarmupSteps), "Linear warm-up steps.")]
    public int? WarmupSteps { get; init; }

    [CommandOption("--schedule <S>")]
    [DefaultFrom(typeof(O), nameof(O.Schedule), "linear (decay to 0) or constant.")]
    public string? Schedule { get; init; }

    [CommandOption("--clip <NORM>")]
    [DefaultFrom(typeof(O), nameof(O.ClipNorm), "Gradient-norm clipping (0 = off).")]
    public double? ClipNorm { get; init; }

    [CommandOption("--dropout <P>")]
    [Description("Dropout rate (default: the checkpoint's or the size's).")]
    public double? Dropout { get; init; }

    [CommandOption("--eval-every <N>")]
    [DefaultFrom(typeof(O), nameof(O.EvalEvery), "Evaluate on dev and checkpoint every N steps.")]
    public int? EvalEvery { get; init; }

    [CommandOption("--eval-batch-size <N>")]
    [DefaultFrom(typeof(O), nameof(O.EvalBatchSize), "Examples per batch in dev evaluation.")]
    public int? EvalBatchSize { get; init; }

    [CommandOption("--log-every <N>")]
    [DefaultFrom(typeof(O), nameof(O.LogEvery), "Log (and record in metrics.jsonl) every N steps.")]
    public int? LogEvery { get; init; }

    [CommandOption("--max-input-length <N>")]
    [DefaultFrom(typeof(O), nameof(O.MaxInputLength), "Input tokens kept (longer inputs are truncated and counted).")]
    public int? MaxInputLength { get; init; }

    [CommandOption("--max-target-length <N>")]
    [DefaultFrom(typeof(O), nameof(O.MaxTargetLength), "Target tokens kept (labels and rationales).")]
    public int? MaxTargetLength { get; init; }

    [CommandOption("--max-new-tokens <N>")]
    [DefaultFrom(typeof(O), nameof(O.MaxNewTokens), "Generation length for dev evaluation.")]
    public int? MaxNewTokens { get; init; }

    [CommandOption("--keep-last <N>")]
    [DefaultFrom(typeof(O), nameof(O.KeepLast), "Periodic checkpoints to keep (best kept apart).")]
    public int? KeepLast { get; init; }

    [CommandOption("--metric <M>")]
    [Description("exact or equation (JSONL data; official datasets know theirs).")]
    public string? Metric { get; init; }

    /// <summary>The <c>--metric</c> value, parsed; null when not given.</summary>
    public MetricKind? MetricKind => ParseMetric(Metric);

    [CommandOption("-o|--out <DIR>", isRequired: true)]
    [Description("Run folder: run.json, metrics.jsonl, checkpoints, best/. Re-running the same command resumes it.")]
    public string? Out { get; init; }

    /// <summary>
    /// The training options: the record's defaults (or <c>--options FILE</c>), overlaid with every flag given; the model
    /// (a size name, a folder or a Hub id) resolved to a folder.
    /// </summary>
    public async Task<TrainingOptions> ToOptionsAsync(CancellationToken ct)
    {
        var options = OptionsFile is null ? new TrainingOptions() : TrainingOptions.FromJson(await File.ReadAllTextAsync(OptionsFile, ct), OptionsFile);
        options = OptionBinding.Translate(GetType(), () =>
        {
            var o = OptionBinding.Overlay(options with { }, this);
            o.Validate();
            return o;
        });
        if (Model is not null && !(T5Config.Presets.ContainsKey(Model) && !Directory.Exists(Model)))
            options = options with { Model = await ModelLocation.ResolveAsync(Model, ct) };
        return options;
    }
}
