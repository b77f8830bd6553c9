using System.Text.Json.Nodes;
using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Inference;
using StepDistill.Student.Checkpoint;
using StepDistill.Student.Model;
using StepDistill.Tests;
using StepDistill.Tokenization;
using StepDistill.Training;
using static TorchSharp.torch;

namespace StepDistill.Training.Tests;

/// <summary>The trainer on a tiny synthetic task: needs nothing from shared/.</summary>
public sealed class TrainerTests : ScratchFolderTest
{

    static TrainingOptions Options(Method method, int steps) => new()
    {
        Method = method, Model = "tiny", MaxSteps = steps, BatchSize = 8, EvalEvery = 4, LogEvery = 2,
        MaxNewTokens = 4, LearningRate = 3e-3, Dropout = 0.1, Threads = 1, Seed = 3, KeepLast = 2,
    };


    [Fact]
    public void StepByStepLoss_IsAlphaWeightedSumOfTheTwoTaskLosses()
    {
        manual_seed(0);
        var tok = new ByteTokenizer();
        using var model = new T5ForConditionalGeneration(T5Config.Presets["tiny"] with { VocabSize = tok.VocabSize });
        model.eval();
        var options = Options(Method.StepByStep, 1);
        var data = Batches.Encode(SumsData.Sums("train", 6, 1).Examples, tok, options, new TruncationCounter(), out _);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var alpha in new[] { 0.5, 0.2, 1.0 })
        {
            var (loss, labelLoss, rationaleLoss) = Trainer.BatchLoss(model, data, Method.StepByStep, alpha, CPU);
            // Independently: predict: x -> label and explain: x -> rationale through the model's own loss.
            var (pi, pm) = Batches.PadInputs(data.Select(e => e.Input).ToArray(), CPU);
            var (_, l1) = model.Forward(pi, pm, Batches.PadLabels(data.Select(e => e.Label).ToArray(), CPU));
            var (ei, em) = Batches.PadInputs(data.Select(e => e.ExplainInput!).ToArray(), CPU);
            var (_, l2) = model.Forward(ei, em, Batches.PadLabels(data.Select(e => e.Rationale!).ToArray(), CPU));
            Assert.Equal(l1.item<float>(), labelLoss.item<float>(), 6);
            Assert.Equal(l2.item<float>(), rationaleLoss!.item<float>(), 6);
            Assert.Equal(alpha * l1.item<float>() + (1 - alpha) * l2.item<float>(), loss.item<float>(), 5);
        }
        // The prefixes are the paper code's.
        Assert.StartsWith("predict: ", tok.Decode(data[0].Input));
        Assert.StartsWith("explain: ", tok.Decode(data[0].ExplainInput!));
    }

    [Fact]
    public void StandardMethod_UsesTheBareInput_AndTeacherLabelsWhenAsked()
    {
        var tok = new ByteTokenizer();
        var examples = new List<Example> { new("a", "2+2", "4", "two and two", "5"), new("b", "1+1", null, null, "2") };
        var gold = Batches.Encode(examples, tok, Options(Method.Standard, 1), new TruncationCounter(), out var skippedGold);
        Assert.Single(gold);
        Assert.Equal(1, skippedGold);
        Assert.Equal("2+2", tok.Decode(gold[0].Input));
        Assert.Equal("4", tok.Decode(gold[0].Label));
        var teacher = Batches.Encode(examples, tok, Options(Method.Standard, 1) with { Labels = LabelSource.Teacher }, new TruncationCounter(),
            out var skippedTeacher);
        Assert.Equal(0, skippedTeacher);
        Assert.Equal(new[] { "5", "2" }, teacher.Select(e => tok.Decode(e.Label)));
    }

    [Fact]
    public void EpochBatches_AreDeterministic_CoverEveryExampleOnce_AndBucketByLength()
    {
        var tok = new ByteTokenizer();
        var data = Batches.Encode(SumsData.Sums("train", 100, 2).Examples, tok, Options(Method.Standard, 1), new TruncationCounter(), out _);
        var a = Batches.Epoch(data, 8, 5, 0);
        var b = Batches.Epoch(data, 8, 5, 0);
        var c = Batches.Epoch(data, 8, 5, 1);
        Assert.Equal(a.Select(x => string.Join(",", x)), b.Select(x => string.Join(",", x)));
        Assert.NotEqual(a.Select(x => string.Join(",", x)), c.Select(x => string.Join(",", x)));
        Assert.Equal(Enumerable.Range(0, 100), a.SelectMany(x => x).Order());
    }

    [Fact]
    public async Task InterruptedRun_ResumesToBitIdenticalWeights()
    {
        var train = SumsData.Sums("train", 64, 1);
        var dev = SumsData.Sums("dev", 16, 2);
        var straight = Path.Combine(dir, "straight");
        var resumed = Path.Combine(dir, "resumed");
        var full = await new Trainer(Options(Method.StepByStep, 12), straight).RunAsync(train, dev);
        Assert.Equal(12, full.Steps);

        // Cancel after step 6's checkpoint (EvalEvery = 4 gives checkpoints at 4, 8, 12): stop at 6 with a checkpoint.
        using (var cts = new CancellationTokenSource())
        {
            var observer = new CancelAt(6, cts);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new Trainer(Options(Method.StepByStep, 12), resumed,
                observer).RunAsync(train, dev, cts.Token));
        }
        Assert.EndsWith("checkpoint-0000006", Trainer.LatestCheckpoint(resumed));
        var again = await new Trainer(Options(Method.StepByStep, 12), resumed).RunAsync(train, dev);
        Assert.Equal(12, again.Steps);
        Assert.Equal(CheckpointWeights.Read(Trainer.LatestCheckpoint(straight)!), CheckpointWeights.Read(Trainer.LatestCheckpoint(resumed)!));
        Assert.Equal(full.BestStep, again.BestStep);

        // The metrics series has each step once even though step 6..8 ran twice (no duplicates after trimming).
        var steps = File.ReadAllLines(Path.Combine(resumed, Trainer.MetricsFile)).Select(l => JsonNode.Parse(l)!)
                        .Where(j => j["loss"] is not null).Select(j => j["step"]!.GetValue<int>()).ToList();
        Assert.Equal(steps.Distinct().Count(), steps.Count);

        // Run folder contents.
        foreach (var f in new[] { Trainer.RunFile, Trainer.MetricsFile, Trainer.DevPredictionsFile, "best/config.json", "best/model.safetensors",
            "best/stepdistill.json", "best/tokenizer_config.json" })
            Assert.True(File.Exists(Path.Combine(resumed, f)), $"missing {f}");
        Assert.Equal(2, Directory.GetDirectories(resumed, "checkpoint-*").Length); // --keep-last 2
        var best = T5Student.Load(Path.Combine(resumed, "best"));
        Assert.Equal("predict: ", best.Info!.InputPrefix);
        best.Dispose();
    }

    [Fact]
    public async Task DevAccuracyDuringTraining_EqualsTheSavedBestCheckpointsAccuracy()
    {
        // Step-by-step students answer under "predict: "; the trainer must score dev the way the saved model is used.
        var dev = SumsData.Sums("dev", 24, 2);
        var options = Options(Method.StepByStep, 60) with { EvalEvery = 60, Dropout = 0.0, LearningRate = 5e-3 };
        var result = await new Trainer(options, Path.Combine(dir, "prefix")).RunAsync(SumsData.Sums("train", 64, 1), dev);
        using var best = T5Student.Load(result.BestCheckpoint);
        Assert.Equal("predict: ", best.Info!.InputPrefix);
        var reloaded = Predictor.Evaluate(best, dev, 8, options.MaxNewTokens);
        Assert.Equal(result.BestDevAccuracy, reloaded.Accuracy);
        // And the prefix matters to this student: without it, it answers differently on some input.
        var bare = Predictor.Predict(best, dev.Examples.Select(e => e.Input).ToList(), "", 8, options.MaxNewTokens);
        var prefixed = Predictor.Predict(best, dev.Examples.Select(e => e.Input).ToList(), "predict: ", 8, options.MaxNewTokens);
        Assert.NotEqual(bare, prefixed);
    }

    [Fact]
    public async Task SameSeed_SameWeights_DifferentSeed_DifferentWeights()
    {
        var train = SumsData.Sums("train", 32, 1);
        var r1 = await new Trainer(Options(Method.Standard, 4), Path.Combine(dir, "a")).RunAsync(train, null);
        var r2 = await new Trainer(Options(Method.Standard, 4), Path.Combine(dir, "b")).RunAsync(train, null);
        var r3 = await new Trainer(Options(Method.Standard, 4) with { Seed = 4 }, Path.Combine(dir, "c")).RunAsync(train, null);
        Assert.Equal(CheckpointWeights.Read(r1.LastCheckpoint), CheckpointWeights.Read(r2.LastCheckpoint));
        Assert.NotEqual(CheckpointWeights.Read(r1.LastCheckpoint), CheckpointWeights.Read(r3.LastCheckpoint));
    }

    [Fact]
    public async Task LearnsASimpleTask_AndEvaluatesWithTheMetric()
    {
        // Copy task: the label is the input; a tiny model learns it within a few hundred steps.
        var rng = new Random(0);
        Dataset Copy(string split, int n) => new("copy", split, TaskKind.Generic, MetricKind.Exact, "memory",
            Enumerable.Range(0, n).Select(i => { var s = rng.Next(100, 999).ToString(); return new Example($"{split}{i}", s, s, s, s); }).ToList());
        var options = Options(Method.Standard, 400) with { EvalEvery = 400, LearningRate = 3e-3, Dropout = 0.0, BatchSize = 32, WarmupSteps = 30 };
        var result = await new Trainer(options, Path.Combine(dir, "copy")).RunAsync(Copy("train", 400), Copy("dev", 50));
        Assert.True(result.BestDevAccuracy > 0.5, $"dev accuracy {result.BestDevAccuracy}");
        using var student = T5Student.Load(result.BestCheckpoint);
        var report = Predictor.Evaluate(student, Copy("dev", 50), 16, 6);
        Assert.Equal(50, report.Total);
        Assert.True(report.Accuracy > 0.5);
    }

    [Fact]
    public async Task BadInputs_FailClearly()
    {
        var train = SumsData.Sums("train", 8, 1);
        var noLabels = train with { Examples = train.Examples.Select(e => e with { TeacherLabel = null }).ToList() };
        var e1 = await Assert.ThrowsAsync<StepDistillException>(() => new Trainer(Options(Method.Standard, 2) with { Labels = LabelSource.Teacher },
            Path.Combine(dir, "x")).RunAsync(noLabels, null));
        Assert.Contains("teacher label", e1.Message);
        var noRationales = train with { Examples = train.Examples.Select(e => e with { Rationale = null }).ToList() };
        var e2 = await Assert.ThrowsAsync<StepDistillException>(() => new Trainer(Options(Method.StepByStep, 2), Path.Combine(dir,
            "y")).RunAsync(noRationales, null));
        Assert.Contains("rationale", e2.Message);
        var test = train with { Split = "test" };
        await Assert.ThrowsAsync<StepDistillException>(() => new Trainer(Options(Method.Standard, 2), Path.Combine(dir, "z")).RunAsync(test, null));
        Assert.Throws<StepDistillException>(() => new Trainer(Options(Method.Standard, 2) with { Alpha = 2 }, dir));
        // Resuming with different options is refused.
        await new Trainer(Options(Method.Standard, 4), Path.Combine(dir, "w")).RunAsync(train, null);
        var e3 = await Assert.ThrowsAsync<StepDistillException>(() => new Trainer(Options(Method.StepByStep, 4), Path.Combine(dir, "w")).RunAsync(train, null));
        Assert.Contains("different options", e3.Message);
    }

    [Fact]
    public async Task NonFiniteLoss_StopsWithAClearMessage_KeepingTheLastGoodCheckpoint()
    {
        var train = SumsData.Sums("train", 32, 1);
        var options = Options(Method.Standard, 40) with { LearningRate = 1e30, ClipNorm = 0, EvalEvery = 1 };
        var e = await Assert.ThrowsAsync<StepDistillException>(() => new Trainer(options, Path.Combine(dir, "nan")).RunAsync(train, null));
        Assert.Contains("loss is", e.Message);
        var last = Trainer.LatestCheckpoint(Path.Combine(dir, "nan"));
        Assert.NotNull(last);
        Assert.Contains(Path.GetFileName(last!), e.Message);
    }

    [Fact]
    public void LearningRateSchedule_WarmsUpThenDecaysLinearly()
    {
        var o = new TrainingOptions { MaxSteps = 100, WarmupSteps = 10 };
        Assert.Equal(0.1, o.LearningRateAt(0, 1.0), 6);
        Assert.Equal(1.0, o.LearningRateAt(9, 1.0), 6);
        Assert.Equal(0.5, o.LearningRateAt(55, 1.0), 6);
        Assert.Equal(0.0, o.LearningRateAt(100, 1.0), 6);
        Assert.Equal(1.0, (o with { Schedule = "constant" }).LearningRateAt(80, 1.0), 6);
    }

    sealed class CancelAt(int step, CancellationTokenSource cts) : ITrainingObserver
    {
        public void OnStart(int startStep, int maxSteps) { }
        public void OnStep(StepReport report) { if (report.Step >= step) cts.Cancel(); }
        public void OnEvaluation(int s, double accuracy, int count, bool isBest) { }
        public void OnMessage(string message) { }
    }
}
