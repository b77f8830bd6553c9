using System.Globalization;
using Spectre.Console;
using StepDistill.Training;

namespace StepDistill.Cli.Progress;

/// <summary>
/// Shows a training run: a live progress bar (loss, tokens/s, ETA) on a terminal, plain periodic log lines on
/// stderr otherwise, so CI logs show progress too.
/// </summary>
internal sealed class TrainingDisplay : ITrainingObserver
{
    readonly IAnsiConsole console = CliConsole.Error;
    readonly string label;
    ProgressTask? task;
    DateTime started;
    int startStep;

    public TrainingDisplay(string label) => this.label = label;

    /// <summary>Runs <paramref name="work"/> under a progress bar when interactive.</summary>
    public Task<T> RunAsync<T>(Func<ITrainingObserver, Task<T>> work) =>
        ConsoleProgress.RunAsync(console,
            [new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(),
                new SpinnerColumn()],
            ctx =>
            {
                task = ctx?.AddTask(Markup.Escape(label), maxValue: 1);
                return work(this);
            });

    public void OnStart(int startStep, int maxSteps)
    {
        this.startStep = startStep;
        started = DateTime.UtcNow;
        if (task is not null) { task.MaxValue = maxSteps; task.Value = startStep; }
        else Log($"{label}: training steps {startStep}..{maxSteps}");
    }

    public void OnStep(StepReport r)
    {
        var text = string.Create(CultureInfo.InvariantCulture,
            $"step {r.Step}/{r.MaxSteps} loss {r.Loss:F4}{(r.RationaleLoss is { } rl ? $" (label {r.LabelLoss:F4}, rationale {rl:F4})" : "")} lr " +
                $"{r.LearningRate:G3} {r.TokensPerSecond:F0} tok/s");
        if (task is not null)
        {
            task.Value = r.Step;
            task.Description = Markup.Escape($"{label} {text}");
            return;
        }
        var done = r.Step - startStep;
        var eta = done > 0 ? TimeSpan.FromSeconds((DateTime.UtcNow - started).TotalSeconds / done * (r.MaxSteps - r.Step)) : TimeSpan.Zero;
        Log($"{text} eta {eta:hh\\:mm\\:ss}");
    }

    public void OnEvaluation(int step, double accuracy, int count, bool isBest) =>
        Log(string.Create(CultureInfo.InvariantCulture, $"step {step}: dev accuracy {accuracy * 100:F2}% on {count}{(isBest ? " (best so far, saved)" : "")}"));

    public void OnMessage(string message) => Log(message);

    void Log(string line)
    {
        if (task is not null) console.MarkupLine(Markup.Escape(line));
        else ConsoleProgress.Log(line);
    }
}
