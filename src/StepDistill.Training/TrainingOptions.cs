namespace StepDistill.Training;

/// <summary><c>standard</c>: input → label. <c>step-by-step</c>: <c>predict: </c>input → label plus <c>explain: </c>input → rationale.</summary>
public enum Method { Standard, StepByStep }

/// <summary>Where training labels come from: the dataset's gold labels (fine-tuning) or the teacher's (distillation).</summary>
public enum LabelSource { Gold, Teacher }

public static class MethodNames
{
    public const string PredictPrefix = Inference.StudentInfo.PredictPrefix;
    public const string ExplainPrefix = Inference.StudentInfo.ExplainPrefix;

    public static string Name(this Method m) => m == Method.Standard ? "standard" : "step-by-step";
    public static string Name(this LabelSource l) => l == LabelSource.Gold ? "gold" : "teacher";

    public static Method ParseMethod(string s) => s.Trim().ToLowerInvariant() switch
    {
        "standard" => Method.Standard,
        "step-by-step" or "stepbystep" or "dss" or "task_prefix" => Method.StepByStep,
        _ => throw new StepDistillException($"--method {s}: expected standard or step-by-step"),
    };

    public static LabelSource ParseLabels(string s) => s.Trim().ToLowerInvariant() switch
    {
        "gold" or "gt" => LabelSource.Gold,
        "teacher" or "llm" => LabelSource.Teacher,
        _ => throw new StepDistillException($"--labels {s}: expected gold or teacher"),
    };
}

/// <summary>Everything that defines a training run. Saved as <c>run.json</c> in the run folder.</summary>
public sealed record TrainingOptions
{
    public Method Method { get; init; } = Method.StepByStep;
    public LabelSource Labels { get; init; } = LabelSource.Gold;
    /// <summary>Weight of the label loss: loss = α·L_label + (1−α)·L_rationale.</summary>
    public double Alpha { get; init; } = 0.5;
    /// <summary>A Hugging Face checkpoint folder, or a from-scratch size name (<c>tiny</c>, <c>mini</c>, <c>small</c>, <c>t5-small</c>).</summary>
    public string Model { get; init; } = "tiny";
    /// <summary>For from-scratch students: <c>byte</c> (ByT5-style), or a folder holding tokenizer files.</summary>
    public string Tokenizer { get; init; } = "byte";
    public double Fraction { get; init; } = 1.0;
    public int Seed { get; init; }
    public int MaxSteps { get; init; } = 1000;
    public int BatchSize { get; init; } = 16;
    public int GradientAccumulation { get; init; } = 1;
    /// <summary>Null: 5e-5 for a pretrained student (the paper's default), 1e-3 from scratch.</summary>
    public double? LearningRate { get; init; }
    public double WeightDecay { get; init; }
    public int WarmupSteps { get; init; }
    /// <summary><c>linear</c> (decay to 0 at MaxSteps after warm-up) or <c>constant</c>.</summary>
    public string Schedule { get; init; } = "linear";
    public double ClipNorm { get; init; } = 1.0;
    /// <summary>Null keeps the checkpoint's dropout rate.</summary>
    public double? Dropout { get; init; }
    public int EvalEvery { get; init; } = 250;
    public int EvalBatchSize { get; init; } = 64;
    public int LogEvery { get; init; } = 10;
    public int MaxInputLength { get; init; } = 512;
    public int MaxTargetLength { get; init; } = 256;
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>How many periodic checkpoints to keep (the best one is kept apart).</summary>
    public int KeepLast { get; init; } = 2;
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; }

    public double EffectiveLearningRate(bool pretrained) => LearningRate ?? (pretrained ? 5e-5 : 1e-3);

    public void Validate()
    {
        void Check(bool ok, string message) { if (!ok) throw new StepDistillException(message); }
        Check(Alpha is >= 0 and <= 1, $"--alpha {Alpha}: must be between 0 and 1");
        Check(Fraction is > 0 and <= 1, $"--fraction {Fraction}: must be in (0, 1]");
        Check(MaxSteps > 0, "--max-steps must be positive");
        Check(BatchSize > 0 && GradientAccumulation > 0, "--batch-size and --grad-accum must be positive");
        Check(LearningRate is null or > 0, "--lr must be positive");
        Check(WarmupSteps >= 0, "--warmup must not be negative");
        Check(Schedule is "linear" or "constant", $"--schedule {Schedule}: expected linear or constant");
        Check(ClipNorm >= 0, "--clip must not be negative (0 disables clipping)");
        Check(Dropout is null or (>= 0 and < 1), "--dropout must be in [0, 1)");
        Check(EvalEvery > 0 && LogEvery > 0 && EvalBatchSize > 0, "--eval-every, --log-every and --eval-batch-size must be positive");
        Check(MaxInputLength > 1 && MaxTargetLength > 1 && MaxNewTokens > 0, "length limits must be positive");
        Check(KeepLast >= 1, "--keep-last must be at least 1");
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
