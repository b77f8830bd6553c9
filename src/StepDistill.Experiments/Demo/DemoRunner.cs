using System.Diagnostics;
using System.Globalization;
using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Experiments.DemoTask;
using StepDistill.Experiments.Runner;
using StepDistill.Experiments.SimulatedTeacher;
using StepDistill.Teacher.Clients;
using StepDistill.Teacher.Pipeline;
using StepDistill.Teacher.Prompts;
using StepDistill.Tokenization;
using StepDistill.Training;

namespace StepDistill.Experiments.Demo;

/// <summary>Sizes and budget of a demo run. <see cref="Default"/> fits about 15 minutes on 2 cores; <see cref="Quick"/> about one.</summary>
internal sealed record DemoOptions
{
    public string Out { get; init; } = "demo-out";
    /// <summary><c>simulated</c> (offline, built in) or any <c>--teacher</c> spec of the annotate verb.</summary>
    public string Teacher { get; init; } = "simulated";
    public double TeacherErrorRate { get; init; } = new SimulatedTeacherOptions().ErrorRate;
    public LegsTaskOptions Task { get; init; } = new();
    public IReadOnlyList<double> Fractions { get; init; } = [0.125, 0.25, 0.5, 1.0];
    public IReadOnlyList<int> Seeds { get; init; } = [0];
    public TrainingOptions Training { get; init; } = new();
    public int Parallel { get; init; } = 2;
    public int AnnotateConcurrency { get; init; } = 8;

    // The design found by the search in BENCHMARKS.md ("Demo design search"): a 4-animal task with a 16,000-question pool
    // (so even 12.5% is 2,000 questions, beyond pure memorisation), the tiny student, 1,000 steps for both methods.
    public static DemoOptions Default { get; } = new()
    {
        Task = new LegsTaskOptions { Seed = 0, TrainSize = 16000, DevSize = 200, TestSize = 500 },
        Seeds = [0, 1, 2],
        Training = new TrainingOptions
        {
            Model = "tiny", MaxSteps = 1000, BatchSize = 32, LearningRate = 2e-3, WarmupSteps = 100, WeightDecay = 0.01,
            ClipNorm = 1.0, Dropout = 0.0, EvalEvery = 500, MaxNewTokens = 4, MaxInputLength = 64, MaxTargetLength = 64,
            EvalBatchSize = 100, Threads = 1,
        },
    };

    public static DemoOptions Quick { get; } = Default with
    {
        Task = Default.Task with { TrainSize = 400, DevSize = 40, TestSize = 80 },
        Seeds = [0],
        Training = Default.Training with { MaxSteps = 40, EvalEvery = 40, BatchSize = 16 },
        Parallel = 1, // cells this short finish faster in-process than a child process starts
    };
}

/// <summary>
/// The offline end-to-end demo: generate the built-in task, have the teacher annotate the training inputs through
/// the real annotate pipeline (prompt, parse, cache, concurrency), train standard fine-tuning and distilling
/// step-by-step students at several data sizes, evaluate each on the test split, and write the report.
/// </summary>
internal sealed class DemoRunner(DemoOptions options, Action<string> log)
{
    public const string SimulatedPrefix = "simulated";

    /// <summary>The teacher kinds the demo adds: <c>simulated[:error-rate]</c> (also offered by annotate).</summary>
    public static IReadOnlyDictionary<string, Func<string, TeacherOptions, TeacherClient>> Teachers { get; } =
        new Dictionary<string, Func<string, TeacherOptions, TeacherClient>> { [SimulatedPrefix] = CreateSimulated };

    /// <summary>The prompts the demo adds: <c>legs</c> (also offered by annotate).</summary>
    public static IReadOnlyDictionary<string, Func<PromptTemplate>> Prompts { get; } =
        new Dictionary<string, Func<PromptTemplate>> { [LegsTask.Name] = () => PromptFile.Parse(LegsPrompt.FileText(), "built-in:legs") };

    static TeacherClient CreateSimulated(string value, TeacherOptions _)
    {
        var rate = string.IsNullOrEmpty(value) ? new SimulatedTeacherOptions().ErrorRate
            : double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) ? r
            : throw StepDistillException.InvalidOption("Teacher", $"simulated:{value}", "expected an error rate such as simulated:0.05");
        return new TeacherClient(new SimulatedTeacherChatClient(new SimulatedTeacherOptions { ErrorRate = rate }), SimulatedPrefix,
            SimulatedTeacherChatClient.ModelName);
    }

    public async Task<(string Table, IReadOnlyList<CellResult> Results)> RunAsync(CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        var timings = new Dictionary<string, double>();
        var outDir = Path.GetFullPath(options.Out);
        var dataDir = Path.Combine(outDir, "data");
        Directory.CreateDirectory(dataDir);

        // 1. The task.
        var splits = LegsTask.Generate(options.Task);
        var inputs = Path.Combine(dataDir, "train-inputs.jsonl");
        await ExampleJsonl.WriteAsync(inputs, splits.ToDataset("train").Examples, null, ct);
        await ExampleJsonl.WriteAsync(Path.Combine(dataDir, "dev.jsonl"), splits.ToDataset("dev").Examples, null, ct);
        await ExampleJsonl.WriteAsync(Path.Combine(dataDir, "test.jsonl"), splits.ToDataset("test").Examples, null, ct);
        log($"task '{LegsTask.Name}': {splits.Train.Count} train, {splits.Dev.Count} dev, {splits.Test.Count} test questions (seed {options.Task.Seed})");
        timings["generate task"] = clock.Elapsed.TotalSeconds;

        // 2. The teacher, through the real annotate pipeline (cached: a re-run asks nothing again).
        var t = Stopwatch.StartNew();
        var teacherSpec = options.Teacher == SimulatedPrefix ? string.Create(CultureInfo.InvariantCulture,
            $"{SimulatedPrefix}:{options.TeacherErrorRate}") : options.Teacher;
        using (var teacher = TeacherFactory.Create(teacherSpec, new TeacherOptions(), Teachers))
        {
            var annotator = new Annotator(teacher, PromptLibrary.Resolve(LegsTask.Name, Prompts),
                new AnnotateOptions { Concurrency = options.AnnotateConcurrency, MaxOutputTokens = 200 });
            var summary = await annotator.RunAsync(inputs, Path.Combine(dataDir, "train.jsonl"), null, ct);
            log($"teacher {teacher.Id}:{teacher.Model}{(options.Teacher == SimulatedPrefix ? " (SIMULATED, offline)" : "")}: {summary.Ok} ok, " +
                $"{summary.Unparseable} unparseable, {summary.Failed} failed, {summary.Skipped} already done");
        }
        timings["teacher annotation"] = t.Elapsed.TotalSeconds;
        var train = await DatasetLoader.LoadAsync(dataDir, "train", MetricKind.Exact, ct);
        var teacherReport = Metrics.ScoreTeacher(train.Metric, train.Examples);
        log($"teacher accuracy on the training set: {teacherReport}");

        // 3. A word-level vocabulary built from the task (inputs, rationales, labels and the two task prefixes).
        var tokenizerDir = Path.Combine(outDir, "tokenizer");
        var corpus = train.Examples.SelectMany(e => new[] { e.Input, e.Label ?? "", e.Rationale ?? "", e.TeacherLabel ?? "" })
            .Concat(splits.Dev.Concat(splits.Test).Select(q => q.Input));
        WordLevelTokenizer.Build(corpus, [MethodNames.PredictPrefix.Trim(), MethodNames.ExplainPrefix.Trim()]).Save(tokenizerDir);

        // 4. Standard fine-tuning vs step-by-step, every fraction and seed, scored on the test split.
        t.Restart();
        var test = await DatasetLoader.LoadAsync(dataDir, "test", MetricKind.Exact, ct);
        // Both students learn the gold labels (the paper's comparison with human-labelled data); step-by-step adds
        // the teacher's rationales as its second task.
        var grid = new ExperimentGrid([MethodSpec.Parse("standard:gold"), MethodSpec.Parse("step-by-step:gold")], options.Fractions, options.Seeds, [Alpha]);
        var runner = new ExperimentRunner(options.Training with { Tokenizer = tokenizerDir }, outDir, log)
        {
            ChildProcess = ChildProcess,
            Parallel = options.Parallel
        };
        var results = await runner.RunAsync(grid, dataDir, dataDir, test, ct);
        timings["student training and evaluation"] = t.Elapsed.TotalSeconds;
        timings["total"] = clock.Elapsed.TotalSeconds;

        var o = options.Training;
        var teacherLine = options.Teacher == SimulatedPrefix
            ? I($"SIMULATED offline teacher (`{SimulatedTeacherChatClient.ModelName}`, error rate {options.TeacherErrorRate:P0}); ") +
              "a real LLM teacher can replace it"
            : options.Teacher;
        var fractions = string.Join(", ", options.Fractions.Select(f => f.ToString("P1", CultureInfo.InvariantCulture)));
        var setup = string.Join("\n",
            I($"- task: built-in '{LegsTask.Name}' ({LegsPrompt.Instructions}); ") +
            I($"{splits.Train.Count} train / {splits.Dev.Count} dev / {splits.Test.Count} test questions, seed {options.Task.Seed}"),
            $"- teacher: {teacherLine}, through the annotate pipeline",
            $"- student: from-scratch `{o.Model}` T5 with a word-level vocabulary built from the task; same initialisation for both methods (seed)",
            I($"- training: {o.MaxSteps} steps, batch {o.BatchSize}, AdamW lr {o.LearningRate}, warm-up {o.WarmupSteps}, linear decay, ") +
            I($"weight decay {o.WeightDecay}; checkpoint chosen on dev every {o.EvalEvery} steps"),
            "- standard fine-tuning: input → gold label; distilling step-by-step: `predict:` input → gold label and " +
            I($"`explain:` input → teacher rationale, α = {Alpha}"),
            I($"- fractions {fractions} of the training set (nested subsets); seeds {string.Join(", ", options.Seeds)}; ") +
            "accuracy is exact match on the test split");
        var info = new ReportInfo("Distilling step-by-step vs standard fine-tuning (built-in demo)", setup, teacherReport.Accuracy,
                                  options.Teacher == SimulatedPrefix ? "simulated teacher" : options.Teacher, train.Count, timings);
        var table = Report.Write(outDir, info, results);
        return (table, results);
    }

    /// <summary>How to start the CLI for parallel cells; set by the CLI (null: cells run one at a time in-process).</summary>
    public CellProcess? ChildProcess { get; init; }

    /// <summary>The label-loss weight of the demo's step-by-step students (the paper's 0.5).</summary>
    const double Alpha = 0.5;

    static string I(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
