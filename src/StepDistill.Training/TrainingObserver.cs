namespace StepDistill.Training;

/// <summary>One logged optimizer step.</summary>
public sealed record StepReport(int Step, int MaxSteps, double Loss, double LabelLoss, double? RationaleLoss,
                                double LearningRate, double TokensPerSecond, double ElapsedSeconds);

/// <summary>Receives a run's progress (the CLI draws a progress bar or prints log lines).</summary>
public interface ITrainingObserver
{
    void OnStart(int startStep, int maxSteps);
    void OnStep(StepReport report);
    void OnEvaluation(int step, double accuracy, int count, bool isBest);
    void OnMessage(string message);
}

/// <summary>An observer that ignores everything (library use, tests).</summary>
public sealed class NullTrainingObserver : ITrainingObserver
{
    public static readonly NullTrainingObserver Instance = new();
    public void OnStart(int startStep, int maxSteps) { }
    public void OnStep(StepReport report) { }
    public void OnEvaluation(int step, double accuracy, int count, bool isBest) { }
    public void OnMessage(string message) { }
}

/// <summary>What a finished run produced.</summary>
public sealed record TrainingResult(int Steps, double? BestDevAccuracy, int BestStep, string BestCheckpoint,
                                    string LastCheckpoint, double TrainSeconds, int TrainExamples);
