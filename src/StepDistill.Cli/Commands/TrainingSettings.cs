using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Evaluation;
using StepDistill.Student.Model;
using StepDistill.Training;

namespace StepDistill.Cli.Commands;

/// <summary>The options of <c>train</c>, shared with <c>experiment</c> (which varies method, labels, α, fraction and seed).</summary>
internal abstract class TrainingSettings : CommonSettings
{
    [CommandOption("-d|--data <PATH>")]
    [Description("Training data: our JSONL file, a folder with train.jsonl/dev.jsonl, or an official-layout folder (datasets/svamp).")]
    public string? Data { get; init; }

    [CommandOption("--dev <PATH>")]
    [Description("Dev data for evaluation and checkpoint selection (default: the dev split of --data, when it has one).")]
    public string? Dev { get; init; }

    [CommandOption("--method <METHOD>")]
    [Description("standard (input -> label) or step-by-step (predict:/explain: multi-task). Default step-by-step.")]
    [DefaultValue("step-by-step")]
    public string Method { get; init; } = "step-by-step";

    [CommandOption("--labels <SOURCE>")]
    [Description("gold (fine-tuning) or teacher (distillation from the teacher's labels). Default gold.")]
    [DefaultValue("gold")]
    public string Labels { get; init; } = "gold";

    [CommandOption("--alpha <A>")]
    [Description("Label-loss weight: loss = A*label + (1-A)*rationale. Default 0.5.")]
    [DefaultValue(0.5)]
    public double Alpha { get; init; } = 0.5;

    [CommandOption("-m|--model <MODEL>")]
    [Description("Student: a checkpoint folder, a Hugging Face id, or a from-scratch size (tiny, mini, small, t5-small). Default tiny.")]
    [DefaultValue("tiny")]
    public string Model { get; init; } = "tiny";

    [CommandOption("--tokenizer <TOK>")]
    [Description("From-scratch students only: byte (default) or a folder with tokenizer files (spiece.model, tokenizer.json).")]
    [DefaultValue("byte")]
    public string Tokenizer { get; init; } = "byte";

    [CommandOption("--fraction <F>")]
    [Description("Train on this fraction of the training set (nested subsets for the same seed). Default 1.")]
    [DefaultValue(1.0)]
    public double Fraction { get; init; } = 1.0;

    [CommandOption("--seed <N>")] [DefaultValue(0)] [Description("Seed for initialisation, subsampling, data order and dropout.")]
    public int Seed { get; init; }

    [CommandOption("--max-steps <N>")] [DefaultValue(1000)] [Description("Optimizer steps. Default 1000.")]
    public int MaxSteps { get; init; } = 1000;

    [CommandOption("--batch-size <N>")] [DefaultValue(16)] [Description("Examples per micro-batch. Default 16.")]
    public int BatchSize { get; init; } = 16;

    [CommandOption("--grad-accum <N>")] [DefaultValue(1)] [Description("Micro-batches per optimizer step. Default 1.")]
    public int GradAccum { get; init; } = 1;

    [CommandOption("--lr <LR>")] [Description("Peak learning rate (default 5e-5 for a pretrained student, 1e-3 from scratch).")]
    public double? LearningRate { get; init; }

    [CommandOption("--weight-decay <W>")] [DefaultValue(0.0)] [Description("AdamW weight decay. Default 0.")]
    public double WeightDecay { get; init; }

    [CommandOption("--warmup <N>")] [DefaultValue(0)] [Description("Linear warm-up steps. Default 0.")]
    public int Warmup { get; init; }

    [CommandOption("--schedule <S>")] [DefaultValue("linear")] [Description("linear (decay to 0) or constant. Default linear.")]
    public string Schedule { get; init; } = "linear";

    [CommandOption("--clip <NORM>")] [DefaultValue(1.0)] [Description("Gradient-norm clipping (0 = off). Default 1.")]
    public double Clip { get; init; } = 1.0;

    [CommandOption("--dropout <P>")] [Description("Dropout rate (default: the checkpoint's or the size's).")]
    public double? Dropout { get; init; }

    [CommandOption("--eval-every <N>")] [DefaultValue(250)] [Description("Evaluate on dev and checkpoint every N steps. Default 250.")]
    public int EvalEvery { get; init; } = 250;

    [CommandOption("--eval-batch-size <N>")] [DefaultValue(64)]
    public int EvalBatchSize { get; init; } = 64;

    [CommandOption("--log-every <N>")] [DefaultValue(10)]
    public int LogEvery { get; init; } = 10;

    [CommandOption("--max-input-length <N>")] [DefaultValue(512)]
    public int MaxInputLength { get; init; } = 512;

    [CommandOption("--max-target-length <N>")] [DefaultValue(256)]
    public int MaxTargetLength { get; init; } = 256;

    [CommandOption("--max-new-tokens <N>")] [DefaultValue(64)] [Description("Generation length for dev evaluation. Default 64.")]
    public int MaxNewTokens { get; init; } = 64;

    [CommandOption("--keep-last <N>")] [DefaultValue(2)] [Description("Periodic checkpoints to keep (best kept apart). Default 2.")]
    public int KeepLast { get; init; } = 2;

    [CommandOption("--metric <M>")] [Description("exact or equation (JSONL data; official datasets know theirs).")]
    public string? Metric { get; init; }

    [CommandOption("-o|--out <DIR>")]
    [Description("Run folder: run.json, metrics.jsonl, checkpoints, best/. Re-running the same command resumes it.")]
    public string? Out { get; init; }

    public override ValidationResult Validate()
    {
        if (string.IsNullOrWhiteSpace(Data)) return ValidationResult.Error("--data is required");
        if (string.IsNullOrWhiteSpace(Out)) return ValidationResult.Error("--out is required");
        return base.Validate();
    }

    public MetricKind? ParseMetric() =>
        Metric is null ? null : MetricKinds.TryParse(Metric, out var m) ? m : throw new StepDistillException($"--metric {Metric}: expected exact or equation");

    /// <summary>Resolves the model (a size name, a folder or a Hub id) and builds the training options.</summary>
    public async Task<TrainingOptions> ToOptionsAsync(CancellationToken ct)
    {
        var model = T5Config.Presets.ContainsKey(Model) && !Directory.Exists(Model) ? Model : await ModelLocation.ResolveAsync(Model, ct);
        var options = new TrainingOptions
        {
            Method = MethodNames.ParseMethod(Method), Labels = MethodNames.ParseLabels(Labels), Alpha = Alpha,
            Model = model, Tokenizer = Tokenizer, Fraction = Fraction, Seed = Seed, MaxSteps = MaxSteps,
            BatchSize = BatchSize, GradientAccumulation = GradAccum, LearningRate = LearningRate,
            WeightDecay = WeightDecay, WarmupSteps = Warmup, Schedule = Schedule, ClipNorm = Clip,
            Dropout = Dropout, EvalEvery = EvalEvery, EvalBatchSize = EvalBatchSize, LogEvery = LogEvery,
            MaxInputLength = MaxInputLength, MaxTargetLength = MaxTargetLength, MaxNewTokens = MaxNewTokens,
            KeepLast = KeepLast, Device = Device, Threads = Threads,
        };
        options.Validate();
        return options;
    }
}
