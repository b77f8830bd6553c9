using System.Diagnostics;
using System.Globalization;
using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Experiments.DemoTask;
using StepDistill.Experiments.Runner;
using StepDistill.Experiments.SimulatedTeacher;
using StepDistill.Student.Model;
using StepDistill.Teacher.Clients;
using StepDistill.Teacher.Pipeline;
using StepDistill.Teacher.Prompts;
using StepDistill.Tokenization;
using StepDistill.Training;

namespace StepDistill.Experiments.Demo;

/// <summary>Sizes and budget of a demo run. <see cref="Default"/> takes about 8½ minutes on 2 cores (BENCHMARKS.md); <see cref="Quick"/> under one.</summary>
internal sealed record DemoOptions
{
    public string Out { get; init; } = "demo-out";
    /// <summary><c>simulated</c> (offline, built in) or any <c>--teacher</c> spec of the annotate verb.</summary>
    public string Teacher { get; init; } = "simulated";
    public double TeacherErrorRate { get; init; } = new SimulatedTeacherOptions().ErrorRate;
    public LegsTaskOptions Task { get; init; } = new();
    public IReadOnlyList<double> Fractions { get; init; } = [0.125, 0.25, 1.0];
    public IReadOnlyList<int> Seeds { get; init; } = [0];
    public TrainingOptions Training { get; init; } = new();
    /// <summary>The label-loss weight α of the step-by-step students.</summary>
    public double Alpha { get; init; } = 0.5;
    /// <summary>A larger student trained by standard fine-tuning on all the data (the "smaller model" headline); null: none.</summary>
    public string? LargeModel { get; init; }
    /// <summary>The seeds of the larger student's runs (each costs several small ones).</summary>
    public IReadOnlyList<int> LargeSeeds { get; init; } = [0];
    public int Parallel { get; init; } = 2;
    public int AnnotateConcurrency { get; init; } = 8;

    // The design found by the search in docs/demo-design-search.md (round 3): the task of LegsTaskOptions' defaults,
    // the tiny student for both methods, three data sizes and four seeds (the most that fit 10 minutes; with three
    // seeds no 95% interval clears zero, t = 4.3), and the larger mini student by standard fine-tuning on all the data.
    public static DemoOptions Default { get; } = new()
    {
        Task = new LegsTaskOptions(),
        Seeds = [0, 1, 2, 3],
        LargeModel = "mini",
        LargeSeeds = [0],
        Training = new TrainingOptions
        {
            Model = "tiny", MaxSteps = 1000, BatchSize = 32, LearningRate = 2e-3, WarmupSteps = 100, WeightDecay = 0.01,
            ClipNorm = 1.0, Dropout = 0.0, EvalEvery = 500, MaxNewTokens = 4, MaxInputLength = 64, MaxTargetLength = 64,
            EvalBatchSize = 100, Threads = 1,
        },
    };

    public static DemoOptions Quick { get; } = Default with
    {
        Task = Default.Task with { TrainSize = 2000, DevSize = 100, TestSize = 200, InventedKinds = 20 },
        Seeds = [0],
        Training = Default.Training with { MaxSteps = 200, EvalEvery = 100, BatchSize = 16 },
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

    // The two methods compared. Both students learn the gold labels (the paper's comparison with human-labelled data);
    // step-by-step adds the teacher's rationales as its second task.
    internal static readonly MethodSpec Standard = MethodSpec.Parse("standard:gold"), StepByStep = MethodSpec.Parse("step-by-step:gold");

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

    /// <summary>What a finished demo produced: the printed table, every run, and the headline sentences.</summary>
    public sealed record Outcome(string Table, IReadOnlyList<CellResult> Results, IReadOnlyList<string> Headlines);

    public async Task<Outcome> RunAsync(CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        var timings = new Dictionary<string, double>();
        var outDir = Path.GetFullPath(options.Out);
        var dataDir = Path.Combine(outDir, "data");
        Directory.CreateDirectory(dataDir);

        // 1. The task.
        var splits = LegsTask.Generate(options.Task);
        var inputs = Path.Combine(dataDir, "train-inputs.jsonl");
        var testPath = Path.Combine(dataDir, "test.jsonl");
        await ExampleJsonl.WriteAsync(inputs, splits.ToDataset("train").Examples, null, ct);
        await ExampleJsonl.WriteAsync(Path.Combine(dataDir, "dev.jsonl"), splits.ToDataset("dev").Examples, null, ct);
        await ExampleJsonl.WriteAsync(testPath, splits.ToDataset("test").Examples, null, ct);
        log($"task '{LegsTask.Name}': {splits.Train.Count} train, {splits.Dev.Count} dev, {splits.Test.Count} test questions " +
            $"({options.Task.InventedKinds} invented creatures, seed {options.Task.Seed})");
        timings["generate task"] = clock.Elapsed.TotalSeconds;

        // 2. The teacher, through the real annotate pipeline (cached: a re-run asks nothing again): the training
        //    inputs for the students, and the test questions to compare the students with it.
        var t = Stopwatch.StartNew();
        var simulated = options.Teacher == SimulatedPrefix;
        var teacherSpec = simulated ? string.Create(CultureInfo.InvariantCulture, $"{SimulatedPrefix}:{options.TeacherErrorRate}") : options.Teacher;
        var teacherOnTest = Path.Combine(outDir, "teacher-on-test", "test.jsonl");
        using (var teacher = TeacherFactory.Create(teacherSpec, new TeacherOptions(), Teachers))
        {
            var annotator = new Annotator(teacher, PromptLibrary.Resolve(LegsTask.Name, Prompts),
                new AnnotateOptions { Concurrency = options.AnnotateConcurrency, MaxOutputTokens = 200 });
            var trainOut = Path.Combine(dataDir, "train.jsonl");
            var summary = await annotator.RunAsync(inputs, trainOut, null, ct);
            log($"teacher {teacher.Id}:{teacher.Model}{(simulated ? " (SIMULATED, offline)" : "")}: {summary.Ok} ok, " +
                $"{summary.Unparseable} unparseable, {summary.Failed} failed, {summary.Skipped} already done");
            await InInputOrderAsync(inputs, trainOut, ct);
            FileOps.CreateDirectory(Path.GetDirectoryName(teacherOnTest)!);
            await annotator.RunAsync(testPath, teacherOnTest, null, ct);
        }
        timings["teacher annotation"] = t.Elapsed.TotalSeconds;
        var train = await DatasetLoader.LoadAsync(dataDir, "train", MetricKind.Exact, ct);
        var teacherReport = Metrics.ScoreTeacher(train.Metric, train.Examples);
        var teacherTest = Metrics.ScoreTeacher(MetricKind.Exact, (await DatasetLoader.LoadAsync(teacherOnTest, "test", MetricKind.Exact, ct)).Examples);
        log($"teacher accuracy: training set {teacherReport}; test questions {teacherTest}");

        // 3. A word-level vocabulary built from the task (inputs, rationales, labels and the two task prefixes).
        var tokenizerDir = Path.Combine(outDir, "tokenizer");
        var corpus = train.Examples.SelectMany(e => new[] { e.Input, e.Label ?? "", e.Rationale ?? "", e.TeacherLabel ?? "" })
            .Concat(splits.Dev.Concat(splits.Test).Select(q => q.Input));
        var tokenizer = WordLevelTokenizer.Build(corpus, [MethodNames.PredictPrefix.Trim(), MethodNames.ExplainPrefix.Trim()]);
        tokenizer.Save(tokenizerDir);

        // 4. Standard fine-tuning vs step-by-step, every fraction and seed, scored on the test split; and the larger
        //    student by standard fine-tuning on all the data.
        t.Restart();
        var test = await DatasetLoader.LoadAsync(testPath, "test", MetricKind.Exact, ct);
        var grid = new ExperimentGrid([Standard, StepByStep], options.Fractions, options.Seeds, [options.Alpha])
        {
            Extra = options.LargeModel is { } large ? [.. options.LargeSeeds.Select(s => new Cell(Standard, 1.0, s, options.Alpha, large))] : [],
        };
        var runner = new ExperimentRunner(options.Training with { Tokenizer = tokenizerDir }, outDir, log)
        {
            ChildProcess = ChildProcess,
            Parallel = options.Parallel
        };
        var results = await runner.RunAsync(grid, dataDir, dataDir, test, ct);
        timings["student training and evaluation"] = t.Elapsed.TotalSeconds;
        timings["total"] = clock.Elapsed.TotalSeconds;

        var points = Report.Aggregate(results);
        var headlines = DemoHeadlines.Write(new HeadlineInputs(points, train.Count, options.Alpha, options.Training.Model, options.LargeModel,
            SizeRatio(options.Training.Model, options.LargeModel, tokenizer.VocabSize), teacherTest.Accuracy, simulated));
        var info = new ReportInfo("Distilling step-by-step vs standard fine-tuning (built-in demo)", Setup(splits), teacherReport.Accuracy,
                                  simulated ? "simulated teacher" : options.Teacher, train.Count, timings)
        {
            Intro = Intro(simulated),
            Headlines = headlines,
            TeacherEvalAccuracy = teacherTest.Accuracy,
            ConstantAnswer = ConstantAnswer(train, test),
        };
        var table = Report.Write(outDir, info, results);
        return new Outcome(table, results, headlines);
    }

    string Intro(bool simulated) =>
        "Each question names creatures and asks for their total number of legs; most creatures are invented, so only the " +
        $"teacher{(simulated ? " (simulated here)" : "")} knows their legs. Two students of the same size learn from the same " +
        "gold answers: standard fine-tuning sees only the answers; distilling step-by-step also learns to write the teacher's " +
        $"rationale (\"{ExampleRationale()}\") as a second task, and at test time answers directly, as standard does. " +
        "Both are trained at several shares of the data and several seeds, and scored on the same unseen test questions.";

    static string ExampleRationale()
    {
        string[] two = [LegsTask.Invented[0], LegsTask.Invented[1]];
        int[] legs = [LegsTask.Animals[two[0]], LegsTask.Animals[two[1]]];
        return LegsRationale.Write(two, legs, legs.Sum(), 0);
    }

    string Setup(LegsTaskSplits splits)
    {
        var o = options.Training;
        var teacherLine = options.Teacher == SimulatedPrefix
            ? I($"SIMULATED offline teacher (`{SimulatedTeacherChatClient.ModelName}`, error rate {options.TeacherErrorRate:P0}); ") +
              "a real LLM teacher can replace it"
            : options.Teacher;
        var fractions = string.Join(", ", options.Fractions.Select(f => f.ToString("P1", CultureInfo.InvariantCulture)));
        var task = options.Task;
        return string.Join("\n",
            I($"- task: built-in '{LegsTask.Name}' ({LegsPrompt.Instructions}); ") +
            (task.MinAnimals == task.MaxAnimals ? I($"{task.MinAnimals}") : I($"{task.MinAnimals}-{task.MaxAnimals}")) + " creatures per question " +
            I($"from {LegsTask.Animals.Count - LegsTask.Invented.Count} real animals and {task.InventedKinds} invented ones; ") +
            I($"{splits.Train.Count} train / {splits.Dev.Count} dev / {splits.Test.Count} test questions, seed {task.Seed}"),
            $"- teacher: {teacherLine}, through the annotate pipeline; it also answered the test questions, for comparison only",
            $"- student: from-scratch `{o.Model}` T5 with a word-level vocabulary built from the task; same initialisation for both methods (seed)" +
            (options.LargeModel is { } large ? I($"; `{large}` by standard fine-tuning on all the data, seeds {string.Join(", ", options.LargeSeeds)}") : ""),
            I($"- training: {o.MaxSteps} steps, batch {o.BatchSize}, AdamW lr {o.LearningRate}, warm-up {o.WarmupSteps}, linear decay, ") +
            I($"weight decay {o.WeightDecay}; checkpoint chosen on dev every {o.EvalEvery} steps"),
            "- standard fine-tuning: input → gold label; distilling step-by-step: `predict:` input → gold label and " +
            I($"`explain:` input → teacher rationale, α = {options.Alpha}"),
            I($"- fractions {fractions} of the training set (nested subsets); seeds {string.Join(", ", options.Seeds)}; ") +
            "accuracy is exact match on the test split");
    }

    /// <summary>The most frequent gold label of the training set and its accuracy on the test split.</summary>
    static (string Answer, double Accuracy)? ConstantAnswer(Dataset train, Dataset test)
    {
        var answer = train.Examples.Where(e => e.Label is not null).GroupBy(e => e.Label!).OrderByDescending(g => g.Count())
                          .ThenBy(g => g.Key, StringComparer.Ordinal).FirstOrDefault()?.Key;
        if (answer is null || test.Count == 0) return null;
        return (answer, test.Examples.Count(e => Metrics.IsCorrect(test.Metric, answer, e.Label)) / (double)test.Count);
    }

    /// <summary>How many times more parameters <paramref name="large"/> has than <paramref name="small"/> (presets only).</summary>
    static double? SizeRatio(string small, string? large, int vocabSize) =>
        large is not null && T5Config.Presets.TryGetValue(small, out var s) && T5Config.Presets.TryGetValue(large, out var l)
            ? (double)(l with { VocabSize = vocabSize }).MinimumParameterCount() / (s with { VocabSize = vocabSize }).MinimumParameterCount()
            : null;

    /// <summary>
    /// Rewrites the annotation output <paramref name="output"/> in the order of <paramref name="inputs"/>: the annotator
    /// writes records as calls finish, and the students' nested subsets follow file order, so without this two runs
    /// of the demo would train on different subsets.
    /// </summary>
    internal static async Task InInputOrderAsync(string inputs, string output, CancellationToken ct)
    {
        var order = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (line, record) in Jsonl.Records(inputs, await File.ReadAllTextAsync(inputs, ct)))
            order[Jsonl.IdOrLine(inputs, line, record)] = order.Count;
        var lines = new List<(int Rank, string Text)>();
        var text = await File.ReadAllTextAsync(output, ct);
        foreach (var (raw, index) in text.Split('\n').Select((l, i) => (l, i)))
        {
            var (line, number) = (raw.TrimEnd('\r'), index + 1);
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = Jsonl.ParseLine(output, number, line);
            var id = Jsonl.IdOrLine(output, number, doc.RootElement);
            lines.Add((order.TryGetValue(id, out var rank) ? rank : int.MaxValue, line));
        }
        var sorted = lines.OrderBy(l => l.Rank).ToList(); // stable: records of unknown ids keep their order, last
        if (sorted.Select(l => l.Text).SequenceEqual(lines.Select(l => l.Text))) return;
        FileOps.WriteAllText(output, string.Concat(sorted.Select(l => l.Text + "\n")));
    }

    /// <summary>How to start the CLI for parallel cells; set by the CLI (null: cells run one at a time in-process).</summary>
    public CellProcess? ChildProcess { get; init; }

    static string I(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
