namespace StepDistill.Training;

/// <summary>One logged optimizer step.</summary>
public sealed record StepReport(int Step, int MaxSteps, double Loss, double LabelLoss, double? RationaleLoss,
                                double LearningRate, double TokensPerSecond, double ElapsedSeconds);

/// <summary>Receives a run's progress (the CLI draws a progress bar or prints log lines).</summary>
public interface ITrainingObserver
{
    /// <summary>Training starts (or resumes) at <paramref name="startStep"/> of <paramref name="maxSteps"/>.</summary>
    void OnStart(int startStep, int maxSteps);
    /// <summary>A logged step.</summary>
    void OnStep(StepReport report);
    /// <summary>A dev evaluation finished; <paramref name="isBest"/> when it is the best so far.</summary>
    void OnEvaluation(int step, double accuracy, int count, bool isBest);
    /// <summary>A line for the user (skipped examples, resume, stop).</summary>
    void OnMessage(string message);
}

/// <summary>An observer that ignores everything (library use, tests).</summary>
public sealed class NullTrainingObserver : ITrainingObserver
{
    /// <summary>The one instance.</summary>
    public static readonly NullTrainingObserver Instance = new();
    /// <summary>Does nothing.</summary>
    public void OnStart(int startStep, int maxSteps) { }
    /// <summary>Does nothing.</summary>
    public void OnStep(StepReport report) { }
    /// <summary>Does nothing.</summary>
    public void OnEvaluation(int step, double accuracy, int count, bool isBest) { }
    /// <summary>Does nothing.</summary>
    public void OnMessage(string message) { }
}

/// <summary>What a finished run produced.</summary>
public sealed record TrainingResult(int Steps, double? BestDevAccuracy, int BestStep, string BestCheckpoint,
                                    string LastCheckpoint, double TrainSeconds, int TrainExamples);
