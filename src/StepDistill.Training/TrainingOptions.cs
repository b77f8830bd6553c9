using System.Text.Json;
using System.Text.Json.Serialization;

namespace StepDistill.Training;

/// <summary><c>standard</c>: input → label. <c>step-by-step</c>: <c>predict: </c>input → label plus <c>explain: </c>input → rationale.</summary>
public enum Method
{
    /// <summary>Input → label.</summary>
    Standard,
    /// <summary>Label and rationale as two tasks (distilling step-by-step).</summary>
    StepByStep,
}

/// <summary>Where training labels come from: the dataset's gold labels (fine-tuning) or the teacher's (distillation).</summary>
public enum LabelSource
{
    /// <summary>The dataset's gold labels.</summary>
    Gold,
    /// <summary>The teacher's labels (<c>teacher_label</c>).</summary>
    Teacher,
}

/// <summary>The names of methods and label sources (as the CLI and run.json spell them) and the task prefixes.</summary>
public static class MethodNames
{
    /// <summary>The label task's input prefix in step-by-step training.</summary>
    public const string PredictPrefix = Inference.StudentInfo.PredictPrefix;
    /// <summary>The rationale task's input prefix in step-by-step training.</summary>
    public const string ExplainPrefix = Inference.StudentInfo.ExplainPrefix;

    /// <summary><c>standard</c> or <c>step-by-step</c>.</summary>
    public static string Name(this Method m) => m == Method.Standard ? "standard" : "step-by-step";
    /// <summary><c>gold</c> or <c>teacher</c>.</summary>
    public static string Name(this LabelSource l) => l == LabelSource.Gold ? "gold" : "teacher";

    /// <summary>Parses a method name; an unknown one is an error naming the Method property.</summary>
    public static Method ParseMethod(string s) => s.Trim().ToLowerInvariant() switch
    {
        "standard" => Method.Standard,
        "step-by-step" or "stepbystep" or "dss" or "task_prefix" => Method.StepByStep,
        _ => throw StepDistillException.InvalidOption(nameof(TrainingOptions.Method), s, "expected standard or step-by-step"),
    };

    /// <summary>Parses a label source; an unknown one is an error naming the Labels property.</summary>
    public static LabelSource ParseLabels(string s) => s.Trim().ToLowerInvariant() switch
    {
        "gold" or "gt" => LabelSource.Gold,
        "teacher" or "llm" => LabelSource.Teacher,
        _ => throw StepDistillException.InvalidOption(nameof(TrainingOptions.Labels), s, "expected gold or teacher"),
    };
}

/// <summary>
/// Everything that defines a training run, with its defaults stated here only (the CLI derives its own from them).
/// Serialised by <see cref="ToJson"/> into <c>run.json</c>; experiment cells run as child processes receive the same form.
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>Default peak learning rate for a pretrained student (the paper's).</summary>
    public const double PretrainedLearningRate = 5e-5;
    /// <summary>Default peak learning rate for a student trained from scratch.</summary>
    public const double ScratchLearningRate = 1e-3;

    /// <summary>Standard training or distilling step-by-step.</summary>
    public Method Method { get; init; } = Method.StepByStep;
    /// <summary>Gold labels or the teacher's.</summary>
    public LabelSource Labels { get; init; } = LabelSource.Gold;
    /// <summary>Weight of the label loss: loss = α·L_label + (1−α)·L_rationale.</summary>
    public double Alpha { get; init; } = 0.5;
    /// <summary>A Hugging Face checkpoint folder, or a from-scratch size name (<c>tiny</c>, <c>mini</c>, <c>small</c>, <c>t5-small</c>).</summary>
    public string Model { get; init; } = "tiny";
    /// <summary>For from-scratch students: <c>byte</c> (ByT5-style), or a folder holding tokenizer files.</summary>
    public string Tokenizer { get; init; } = "byte";
    /// <summary>Share of the training set used (nested subsets for one seed).</summary>
    public double Fraction { get; init; } = 1.0;
    /// <summary>Seed of initialisation, subsampling, data order and dropout.</summary>
    public int Seed { get; init; }
    /// <summary>Optimizer steps.</summary>
    public int MaxSteps { get; init; } = 1000;
    /// <summary>Examples per micro-batch.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Micro-batches per optimizer step.</summary>
    public int GradientAccumulation { get; init; } = 1;
    /// <summary>Null: 5e-5 for a pretrained student (the paper's default), 1e-3 from scratch.</summary>
    public double? LearningRate { get; init; }
    /// <summary>AdamW weight decay.</summary>
    public double WeightDecay { get; init; }
    /// <summary>Linear warm-up steps.</summary>
    public int WarmupSteps { get; init; }
    /// <summary><c>linear</c> (decay to 0 at MaxSteps after warm-up) or <c>constant</c>.</summary>
    public string Schedule { get; init; } = "linear";
    /// <summary>Gradient-norm clipping; 0 = off.</summary>
    public double ClipNorm { get; init; } = 1.0;
    /// <summary>Null keeps the checkpoint's dropout rate.</summary>
    public double? Dropout { get; init; }
    /// <summary>Evaluate on dev and checkpoint every this many steps.</summary>
    public int EvalEvery { get; init; } = 250;
    /// <summary>Examples per batch in dev evaluation.</summary>
    public int EvalBatchSize { get; init; } = 64;
    /// <summary>Log every this many steps.</summary>
    public int LogEvery { get; init; } = 10;
    /// <summary>Input tokens kept (longer inputs are truncated and counted).</summary>
    public int MaxInputLength { get; init; } = 512;
    /// <summary>Target tokens kept (labels and rationales).</summary>
    public int MaxTargetLength { get; init; } = 256;
    /// <summary>Generation length in dev evaluation.</summary>
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>How many periodic checkpoints to keep (the best one is kept apart).</summary>
    public int KeepLast { get; init; } = 2;
    /// <summary><c>cpu</c>, <c>cuda</c>, <c>cuda:N</c> or <c>auto</c> (CUDA when available).</summary>
    public string Device { get; init; } = StepDistill.Student.Devices.Auto;
    /// <summary>CPU threads for libtorch; 0 = libtorch's default.</summary>
    public int Threads { get; init; }

    /// <summary><see cref="LearningRate"/>, or the default for a pretrained or from-scratch student.</summary>
    public double EffectiveLearningRate(bool pretrained) => LearningRate ?? (pretrained ? PretrainedLearningRate : ScratchLearningRate);

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        WriteIndented = true,
    };

    /// <summary>The one serialised form of the options (snake_case keys, enums as in the CLI: <c>step-by-step</c>).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads <see cref="ToJson"/>'s form; missing keys keep their defaults. <paramref name="source"/> names the file in errors.</summary>
    public static TrainingOptions FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainingOptions>(json, Json) ?? throw new StepDistillException($"{source}: empty training options");
        }
        catch (JsonException e)
        {
            throw new StepDistillException($"{source}: invalid training options: {e.Message}", e);
        }
    }

    /// <summary>
    /// True when <paramref name="other"/> trains the same run: only settings that do not change the result (device,
    /// threads, logging, evaluation batch size, checkpoints kept) may differ when a run is resumed.
    /// </summary>
    public bool SameRunAs(TrainingOptions other) =>
        this == other with { Device = Device, Threads = Threads, LogEvery = LogEvery, EvalBatchSize = EvalBatchSize, KeepLast = KeepLast };

    /// <summary>Throws a <see cref="StepDistillException"/> naming the first invalid property.</summary>
    public void Validate()
    {
        static void Check(bool ok, string property, object? value, string rule) { if (!ok) throw StepDistillException.InvalidOption(property, value, rule); }
        Check(Alpha is >= 0 and <= 1, nameof(Alpha), Alpha, "must be between 0 and 1");
        Check(Fraction is > 0 and <= 1, nameof(Fraction), Fraction, "must be in (0, 1]");
        Check(MaxSteps > 0, nameof(MaxSteps), MaxSteps, "must be positive");
        Check(BatchSize > 0, nameof(BatchSize), BatchSize, "must be positive");
        Check(GradientAccumulation > 0, nameof(GradientAccumulation), GradientAccumulation, "must be positive");
        Check(LearningRate is null or > 0, nameof(LearningRate), LearningRate, "must be positive");
        Check(WarmupSteps >= 0, nameof(WarmupSteps), WarmupSteps, "must not be negative");
        Check(Schedule is "linear" or "constant", nameof(Schedule), Schedule, "expected linear or constant");
        Check(ClipNorm >= 0, nameof(ClipNorm), ClipNorm, "must not be negative (0 disables clipping)");
        Check(Dropout is null or (>= 0 and < 1), nameof(Dropout), Dropout, "must be in [0, 1)");
        Check(EvalEvery > 0, nameof(EvalEvery), EvalEvery, "must be positive");
        Check(LogEvery > 0, nameof(LogEvery), LogEvery, "must be positive");
        Check(EvalBatchSize > 0, nameof(EvalBatchSize), EvalBatchSize, "must be positive");
        Check(MaxInputLength > 1, nameof(MaxInputLength), MaxInputLength, "must be at least 2");
        Check(MaxTargetLength > 1, nameof(MaxTargetLength), MaxTargetLength, "must be at least 2");
        Check(MaxNewTokens > 0, nameof(MaxNewTokens), MaxNewTokens, "must be positive");
        Check(KeepLast >= 1, nameof(KeepLast), KeepLast, "must be at least 1");
    }

    /// <summary>The learning rate after <paramref name="step"/> optimizer steps (warm-up, then linear or constant).</summary>
    public double LearningRateAt(int step, double peak)
    {
        if (WarmupSteps > 0 && step < WarmupSteps) return peak * (step + 1) / WarmupSteps;
        if (Schedule == "constant") return peak;
        var remaining = Math.Max(0, MaxSteps - step);
        return peak * remaining / Math.Max(1, MaxSteps - WarmupSteps);
    }
}
