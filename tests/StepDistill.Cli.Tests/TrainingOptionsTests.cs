using System.ComponentModel;
using System.Reflection;
using System.Text.Json.Nodes;
using Spectre.Console.Cli;
using StepDistill.Cli.Commands;
using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Experiments.Runner;
using StepDistill.Tests;
using StepDistill.Training;

namespace StepDistill.Cli.Tests;

/// <summary>Training options are stated once (in <see cref="TrainingOptions"/>) and travel as one serialised form.</summary>
public sealed class TrainingOptionsTests : ScratchFolderTest
{
    /// <summary>Captures the settings Spectre binds for <c>train</c>, without training.</summary>
    sealed class Capture : Command<TrainCommand.Settings>
    {
        public static TrainCommand.Settings? Last;
        public override int Execute(CommandContext context, TrainCommand.Settings settings, CancellationToken cancellationToken)
        {
            Last = settings;
            return 0;
        }
    }

    static async Task<TrainingOptions> Parse(params string[] args)
    {
        var app = new CommandApp();
        app.Configure(c => { c.PropagateExceptions(); c.AddCommand<Capture>("train"); });
        Assert.Equal(0, await app.RunAsync(["train", "--data", "d", "--out", "o", .. args]));
        return await Capture.Last!.ToOptionsAsync(CancellationToken.None);
    }

    static IEnumerable<PropertyInfo> OptionProperties => typeof(TrainingOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance);

    [Fact]
    public async Task CliDefaults_EqualTheLibrarysDefaults_ForEveryTrainingOption()
    {
        var cli = await Parse();
        var library = new TrainingOptions();
        foreach (var p in OptionProperties)
        {
            var setting = typeof(TrainCommand.Settings).GetProperty(p.Name);
            Assert.True(setting?.GetCustomAttribute<CommandOptionAttribute>() is not null, $"TrainingOptions.{p.Name} has no train option of the same name");
            Assert.True(Equals(p.GetValue(library), p.GetValue(cli)), $"{p.Name}: CLI {p.GetValue(cli)} vs library {p.GetValue(library)}");
            var description = setting!.GetCustomAttribute<DescriptionAttribute>()?.Description ?? "";
            Assert.DoesNotMatch(@"Default [^.]*\..*Default ", description); // one default, printed from the record
        }
        Assert.Equal(library, cli);
    }

    [Fact]
    public async Task EveryTrainingOption_CanBeSetFromTheCommandLine_AndErrorsNameTheFlag()
    {
        var o = await Parse("--method", "standard", "--labels", "teacher", "--alpha", "0.25", "--max-steps", "7", "--grad-accum", "3",
                            "--warmup", "2", "--clip", "0.5", "--device", "cpu", "--threads", "1", "--metric", "equation");
        Assert.Equal(new TrainingOptions
        {
            Method = Method.Standard, Labels = LabelSource.Teacher, Alpha = 0.25, MaxSteps = 7,
            GradientAccumulation = 3, WarmupSteps = 2, ClipNorm = 0.5, Device = "cpu", Threads = 1
        }, o);
        Assert.Equal(MetricKind.Equation, Capture.Last!.MetricKind);
        var e = await Assert.ThrowsAsync<StepDistillException>(() => Parse("--grad-accum", "0"));
        Assert.StartsWith("--grad-accum 0: ", e.Message);
        e = await Assert.ThrowsAsync<StepDistillException>(() => Parse("--method", "sideways"));
        Assert.Equal("--method sideways: expected standard or step-by-step", e.Message);
        var file = Path.Combine(dir, "options.json");
        File.WriteAllText(file, o.ToJson());
        Assert.Equal(o with { Seed = 3 }, await Parse("--options", file, "--seed", "3"));
    }

    [Fact]
    public async Task GridCell_InAChildProcess_WritesTheSameRunJson_AsInProcess()
    {
        var data = await SumsData.WriteFolderAsync(Path.Combine(dir, "data"), 16, 4);
        var options = new TrainingOptions
        {
            MaxSteps = 2, BatchSize = 8, EvalEvery = 2, MaxNewTokens = 3, Threads = 1, Device = "cpu",
            LearningRate = 0.003, Dropout = 0.1, KeepLast = 1
        };
        var grid = new ExperimentGrid([MethodSpec.Parse("step-by-step:teacher")], [0.5], [1], [0.3]);
        var eval = SumsData.Sums("dev", 4, 2);
        var inProcess = new ExperimentRunner(options, Path.Combine(dir, "in"));
        var child = new ExperimentRunner(options, Path.Combine(dir, "child"))
        {
            ChildProcess = ExperimentCommand.TrainCell("dotnet",
            [typeof(App).Assembly.Location]), Parallel = 2
        };
        var a = (await inProcess.RunAsync(grid, data, data, eval)).Single();
        var b = (await child.RunAsync(grid, data, data, eval)).Single();

        JsonNode Run(ExperimentRunner r)
        {
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(r.CellDir(grid.Cells().Single()), Trainer.RunFile)))!.AsObject();
            json.Remove("started");
            return json;
        }
        var inRun = Run(inProcess);
        Assert.Equal(inRun.ToJsonString(), Run(child).ToJsonString());
        Assert.Equal("step-by-step", inRun["options"]!["method"]!.GetValue<string>());
        Assert.Equal(0.3, inRun["options"]!["alpha"]!.GetValue<double>());
        Assert.Equal((a.TrainExamples, a.EvalCount), (b.TrainExamples, b.EvalCount));
    }
}
