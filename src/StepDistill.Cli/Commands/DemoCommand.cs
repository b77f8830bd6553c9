using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Cli.Options;
using StepDistill.Experiments.Demo;

namespace StepDistill.Cli.Commands;

/// <summary><c>stepdistill demo</c>: the whole method, offline, on a built-in task, with report and plot.</summary>
internal sealed class DemoCommand(IAnsiConsole console) : AsyncCommand<DemoCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--quick")]
        [Description("A one-minute version (small task, few steps), for a first look and for tests.")]
        public bool Quick { get; init; }

        [CommandOption("-o|--out <DIR>")]
        [DefaultValue("demo-out")]
        [Description("Report folder: report.md, accuracy_vs_data.png, results.json (default demo-out).")]
        public string Out { get; init; } = "demo-out";

        [CommandOption("--teacher <SPEC>")]
        [DefaultValue("simulated")]
        [Description("simulated (offline, built in) or a real LLM as in annotate: openai:<model>, azure:<deployment>, ollama:<model>, gguf:<path>.")]
        public string Teacher { get; init; } = "simulated";

        [CommandOption("--teacher-error-rate <R>")]
        [DefaultFrom(typeof(Experiments.SimulatedTeacher.SimulatedTeacherOptions), nameof(Experiments.SimulatedTeacher.SimulatedTeacherOptions.ErrorRate),
            "The simulated teacher's share of wrong answers.")]
        public double? TeacherErrorRate { get; init; }

        [CommandOption("--seeds <LIST>")]
        [Description("Seeds to average over (default: the preset's).")]
        public string? Seeds { get; init; }

        [CommandOption("--parallel <N>")]
        [Description("Students trained at once as child processes, one thread each (default 2).")]
        public int? Parallel { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var ct = CliRunner.Cancellation(cancellationToken);
        var options = (s.Quick ? DemoOptions.Quick : DemoOptions.Default) with { Out = s.Out, Teacher = s.Teacher };
        if (s.TeacherErrorRate is { } rate) options = options with { TeacherErrorRate = rate };
        if (s.Seeds is not null) options = options with { Seeds = Experiments.Runner.ExperimentGrid.ParseInts(s.Seeds, "--seeds") };
        if (s.Parallel is { } p) options = options with { Parallel = p };
        var runner = new DemoRunner(options, Progress.ConsoleProgress.Logger)
        {
            ChildProcess = options.Parallel > 1 ? ExperimentCommand.Self() : null,
        };
        var outcome = await runner.RunAsync(ct);
        var writer = console.Profile.Out.Writer;
        writer.WriteLine();
        writer.WriteLine(outcome.Table);
        foreach (var h in outcome.Headlines) writer.WriteLine($"- {h}");
        if (outcome.Headlines.Count > 0) writer.WriteLine();
        writer.WriteLine($"Report: {Path.Combine(Path.GetFullPath(s.Out), Experiments.Runner.Report.MarkdownFile)}");
        return 0;
    }
}
