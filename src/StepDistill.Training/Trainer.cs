using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Inference;
using StepDistill.Student;
using StepDistill.Student.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace StepDistill.Training;

/// <summary>
/// Trains a student with standard fine-tuning/distillation or distilling step-by-step, evaluates on the dev split
/// every <see cref="TrainingOptions.EvalEvery"/> steps, keeps the best and the last checkpoints, and resumes an
/// interrupted run exactly (weights, optimizer, schedule, RNG and data order).
/// </summary>
/// <remarks>
/// Run folder: <c>run.json</c> (options), <c>metrics.jsonl</c> (time series), <c>checkpoint-NNNNNNN/</c> (last k, each
/// a Hugging Face folder plus <c>trainer_state.json</c>, <c>optimizer.bin</c>, <c>rng.bin</c>), <c>best/</c> and
/// <c>dev_predictions.jsonl</c> (of the best checkpoint).
/// </remarks>
public sealed class Trainer
{
    /// <summary>The run's options and set-up (written once, read on resume).</summary>
    public const string RunFile = "run.json";
    /// <summary>One JSON line per logged step and evaluation.</summary>
    public const string MetricsFile = "metrics.jsonl";
    /// <summary>A checkpoint's position: step, epoch, batch, best so far, elapsed time.</summary>
    public const string StateFile = "trainer_state.json";
    /// <summary>A checkpoint's optimizer state.</summary>
    public const string OptimizerFile = "optimizer.bin";
    /// <summary>A checkpoint's random-number-generator state.</summary>
    public const string RngFile = "rng.bin";
    /// <summary>The folder of the best checkpoint (by dev accuracy; the last one without dev).</summary>
    public const string BestDir = "best";
    /// <summary>The best checkpoint's dev predictions.</summary>
    public const string DevPredictionsFile = "dev_predictions.jsonl";
    /// <summary>The OS lock that keeps a second process from writing the same run folder.</summary>
    public const string LockFile = ".lock";

    // AdamW as Hugging Face's Trainer defaults (torch.optim.AdamW's defaults too); the parity tests pin them.
    const double AdamBeta1 = 0.9, AdamBeta2 = 0.999, AdamEpsilon = 1e-8;

    readonly TrainingOptions o;
    readonly string outDir;
    readonly ITrainingObserver observer;

    /// <summary>A trainer writing into <paramref name="outDir"/>; invalid options are errors naming the property.</summary>
    public Trainer(TrainingOptions options, string outDir, ITrainingObserver? observer = null)
    {
        options.Validate();
        o = options;
        this.outDir = Path.GetFullPath(outDir);
        this.observer = observer ?? NullTrainingObserver.Instance;
    }

    sealed record State(int Step, int Epoch, int BatchInEpoch, double? BestAccuracy, int BestStep, double ElapsedSeconds);

    /// <summary>Loss = α·L_label + (1−α)·L_rationale for step-by-step (L_label alone when a batch has no rationale).</summary>
    internal static (Tensor Loss, Tensor LabelLoss, Tensor? RationaleLoss) BatchLoss(T5ForConditionalGeneration model,
        IReadOnlyList<EncodedExample> batch, Method method, double alpha, Device device)
    {
        var (ids, mask) = Batches.PadInputs(batch.Select(e => e.Input).ToArray(), device);
        var labels = Batches.PadLabels(batch.Select(e => e.Label).ToArray(), device);
        var (_, labelLoss) = model.Forward(ids, mask, labels);
        if (method == Method.Standard) return (labelLoss, labelLoss, null);
        var withRationale = batch.Where(e => e.Rationale is not null).ToArray();
        if (withRationale.Length == 0) return (labelLoss, labelLoss, null);
        var (rIds, rMask) = Batches.PadInputs(withRationale.Select(e => e.ExplainInput!).ToArray(), device);
        var rLabels = Batches.PadLabels(withRationale.Select(e => e.Rationale!).ToArray(), device);
        var (_, rationaleLoss) = model.Forward(rIds, rMask, rLabels);
        return (alpha * labelLoss + (1 - alpha) * rationaleLoss, labelLoss, rationaleLoss);
    }

    /// <summary>
    /// Trains on <paramref name="train"/> (selecting checkpoints on <paramref name="dev"/> when given) into the run
    /// folder, resuming from its latest checkpoint; cancellation saves a checkpoint first, then throws.
    /// </summary>
    public async Task<TrainingResult> RunAsync(Dataset train, Dataset? dev, CancellationToken ct = default)
    {
        if (train.IsTest) throw new StepDistillException($"{train.Source}: refusing to train on a test split");
        if (dev is not null && dev.IsTest) throw new StepDistillException($"{dev.Source}: refusing to select checkpoints on a test split");
        var device = Devices.Resolve(o.Device);
        Devices.SetThreads(o.Threads);
        FileOps.CreateDirectory(outDir);
        using var runLock = FileOps.AcquireLock(Path.Combine(outDir, LockFile), outDir);
        var latest = PrepareRunFolder();
        var runFile = Path.Combine(outDir, RunFile);

        var subset = train.Subsample(o.Fraction, o.Seed);
        using var student = latest is not null
            ? T5Student.Load(latest, device, o.Dropout)
            : T5Student.Create(o.Model, o.Tokenizer, o.Seed, device, o.Dropout);
        var pretrained = latest is not null ? ReadPretrained(runFile) : student.Pretrained;
        var peakLr = o.EffectiveLearningRate(pretrained);
        var data = Encode(train, subset, student);
        var info = new StudentInfo(o.Method.Name(), o.Labels.Name(), o.Method == Method.StepByStep ? MethodNames.PredictPrefix : "",
                                   MetricKinds.Name(train.Metric));
        var optimizer = optim.AdamW(student.Model.parameters(), lr: peakLr, beta1: AdamBeta1, beta2: AdamBeta2, eps: AdamEpsilon, weight_decay: o.WeightDecay);
        State state;
        if (latest is not null) state = Resume(latest, optimizer);
        else
        {
            state = new State(0, 0, 0, null, 0, 0);
            WriteRunFile(runFile, train, dev, student.Pretrained, peakLr, data.Count);
        }

        var run = new Run(this, student, info, optimizer, data, dev, device, peakLr, state, latest ?? "");
        observer.OnStart(state.Step, o.MaxSteps);
        student.Model.train();
        while (run.Step < o.MaxSteps)
        {
            if (ct.IsCancellationRequested)
            {
                var saved = run.SaveCheckpoint();
                observer.OnMessage($"stopped at step {run.Step}; checkpoint saved to {saved}; run the same command again to resume");
                ct.ThrowIfCancellationRequested();
            }
            var losses = run.TrainStep();
            if (run.Step % o.LogEvery == 0 || run.Step == o.MaxSteps) run.Log(losses);
            if (run.Step % o.EvalEvery == 0 || run.Step == o.MaxSteps) run.EvaluateAndCheckpoint(ct);
        }
        await Task.CompletedTask;
        return new TrainingResult(run.Step, run.Best.Accuracy, run.Best.Step, Path.Combine(outDir, BestDir), run.LastCheckpoint, run.ElapsedSeconds,
            data.Count);
    }

    /// <summary>
    /// Cleans what a crash left and decides how the run starts: returns the checkpoint to resume from, or null for a fresh
    /// start (after removing the files of this same run stopped before its first checkpoint).
    /// </summary>
    string? PrepareRunFolder()
    {
        RecoverRunFolder();
        var latest = LatestCheckpoint(outDir);
        var runFile = Path.Combine(outDir, RunFile);
        if (latest is not null)
        {
            CheckSameRun(runFile);
            PruneCheckpoints(); // a crash can come between publishing a checkpoint and deleting the oldest
        }
        else if (File.Exists(Path.Combine(outDir, MetricsFile)) || Directory.Exists(Path.Combine(outDir, BestDir)))
        {
            // This run, stopped before its first checkpoint, starts again from scratch; another run's files stay.
            if (!File.Exists(runFile)) throw new StepDistillException($"{outDir}: holds another run's files but no checkpoint to resume; use a new run folder");
            CheckSameRun(runFile);
            FileOps.DeleteDirectory(Path.Combine(outDir, BestDir));
            FileOps.DeleteFile(Path.Combine(outDir, DevPredictionsFile));
            FileOps.DeleteFile(Path.Combine(outDir, MetricsFile));
        }
        return latest;
    }

    /// <summary>Tokenizes the training subset, reporting skipped and truncated examples and missing rationales.</summary>
    List<EncodedExample> Encode(Dataset train, Dataset subset, T5Student student)
    {
        var counter = new TruncationCounter();
        var data = Batches.Encode(subset.Examples, student.Tokenizer, o, counter, out var skipped);
        if (data.Count == 0)
            throw new StepDistillException($"{train.Source}: no training example has a {o.Labels.Name()} label (split {train.Split}, fraction {o.Fraction})");
        if (skipped > 0) observer.OnMessage($"skipped {skipped} of {subset.Count} examples without a {o.Labels.Name()} label");
        if (counter.TruncatedInputs + counter.TruncatedTargets > 0) observer.OnMessage(counter.ToString());
        if (o.Method == Method.StepByStep)
        {
            var missing = data.Count(e => e.Rationale is null);
            if (missing == data.Count) throw new StepDistillException($"{train.Source}: step-by-step needs rationales, and no training example has one");
            if (missing > 0) observer.OnMessage($"{missing} of {data.Count} examples have no rationale: they train the label task only");
        }
        return data;
    }

    /// <summary>Restores the optimizer, the RNG and the metrics of <paramref name="checkpoint"/>; returns its state.</summary>
    State Resume(string checkpoint, OptimizerHelper optimizer)
    {
        var state = ReadState(checkpoint);
        optimizer.load_state_dict(Path.Combine(checkpoint, OptimizerFile));
        using var rng = tensor(File.ReadAllBytes(Path.Combine(checkpoint, RngFile)), ScalarType.Byte);
        random.set_rng_state(rng);
        TrimMetrics(state.Step);
        observer.OnMessage($"resuming from {Path.GetFileName(checkpoint)} (step {state.Step})");
        return state;
    }

    /// <summary>The losses of one optimizer step, averaged over its micro-batches.</summary>
    readonly record struct StepLosses(double Loss, double LabelLoss, double? RationaleLoss, double LearningRate);

    /// <summary>One training run in progress: the model and optimizer, and where the run stands (step, data order, best, time).</summary>
    sealed class Run(Trainer trainer, T5Student student, StudentInfo info, OptimizerHelper optimizer, List<EncodedExample> data,
        Dataset? dev, Device device, double peakLr, State state, string lastCheckpoint)
    {
        readonly TrainingOptions o = trainer.o;
        readonly Stopwatch clock = Stopwatch.StartNew();
        readonly Stopwatch windowClock = Stopwatch.StartNew();
        List<int[]> epochBatches = Batches.Epoch(data, trainer.o.BatchSize, trainer.o.Seed, state.Epoch);
        int epoch = state.Epoch, batchInEpoch = state.BatchInEpoch;
        long windowTokens;

        public int Step { get; private set; } = state.Step;
        public (double? Accuracy, int Step) Best { get; private set; } = (state.BestAccuracy, state.BestStep);
        public string LastCheckpoint { get; private set; } = lastCheckpoint;
        public double ElapsedSeconds => state.ElapsedSeconds + clock.Elapsed.TotalSeconds;

        /// <summary>Accumulates the gradients of <see cref="TrainingOptions.GradientAccumulation"/> micro-batches and steps the optimizer.</summary>
        public StepLosses TrainStep()
        {
            double loss = 0, labelLoss = 0, rationaleLoss = 0;
            var hasRationale = false;
            foreach (var _ in Enumerable.Range(0, o.GradientAccumulation))
            {
                var batch = NextBatch();
                using var scope = NewDisposeScope();
                var (l, ll, rl) = BatchLoss(student.Model, batch, o.Method, o.Alpha, device);
                (l / o.GradientAccumulation).backward();
                loss += l.item<float>() / o.GradientAccumulation;
                labelLoss += ll.item<float>() / o.GradientAccumulation;
                if (rl is not null) { rationaleLoss += rl.item<float>() / o.GradientAccumulation; hasRationale = true; }
                windowTokens += batch.Sum(e => e.Input.Length + e.Label.Length + (e.Rationale is null ? 0 : e.ExplainInput!.Length + e.Rationale.Length));
            }
            if (!double.IsFinite(loss))
            {
                optimizer.zero_grad();
                throw new StepDistillException($"loss is {loss} at step {Step + 1}; stopping. The last good checkpoint is " +
                    $"{(LastCheckpoint.Length > 0 ? LastCheckpoint : "(none yet)")}; try a lower {nameof(TrainingOptions.LearningRate)} or " +
                        $"{nameof(TrainingOptions.ClipNorm)}");
            }
            if (o.ClipNorm > 0) nn.utils.clip_grad_norm_(student.Model.parameters(), o.ClipNorm);
            var lr = o.LearningRateAt(Step, peakLr);
            foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
            optimizer.step();
            optimizer.zero_grad();
            Step++;
            return new StepLosses(loss, labelLoss, hasRationale ? rationaleLoss : null, lr);
        }

        /// <summary>The next micro-batch in the seeded data order, starting a new epoch when one ends.</summary>
        EncodedExample[] NextBatch()
        {
            if (batchInEpoch >= epochBatches.Count)
            {
                epoch++;
                batchInEpoch = 0;
                epochBatches = Batches.Epoch(data, o.BatchSize, o.Seed, epoch);
            }
            return epochBatches[batchInEpoch++].Select(i => data[i]).ToArray();
        }

        /// <summary>Reports the step to the observer and appends it to metrics.jsonl, with the tokens/s since the last log.</summary>
        public void Log(StepLosses losses)
        {
            var tps = windowTokens / Math.Max(1e-9, windowClock.Elapsed.TotalSeconds);
            var report = new StepReport(Step, o.MaxSteps, losses.Loss, losses.LabelLoss, losses.RationaleLoss, losses.LearningRate, tps, ElapsedSeconds);
            trainer.observer.OnStep(report);
            trainer.AppendMetrics(new JsonObject
            {
                ["step"] = Step, ["loss"] = losses.Loss, ["label_loss"] = losses.LabelLoss,
                ["rationale_loss"] = losses.RationaleLoss, ["lr"] = losses.LearningRate,
                ["tokens_per_s"] = Math.Round(tps, 1), ["elapsed_s"] = Math.Round(report.ElapsedSeconds, 2),
            });
            windowTokens = 0;
            windowClock.Restart();
        }

        /// <summary>Scores the dev split (saving <c>best/</c> when it improves; without dev, the last step is best), then checkpoints.</summary>
        public void EvaluateAndCheckpoint(CancellationToken ct)
        {
            if (dev is not null && dev.Count > 0)
            {
                // The student's label task is evaluated with the prefix it is trained with (predict: for step-by-step).
                var report = Predictor.Evaluate(student, dev, o.EvalBatchSize, o.MaxNewTokens, o.MaxInputLength, prefix: info.InputPrefix, ct: ct);
                student.Model.train();
                var isBest = Best.Accuracy is null || report.Accuracy > Best.Accuracy;
                trainer.observer.OnEvaluation(Step, report.Accuracy, report.Total, isBest);
                trainer.AppendMetrics(new JsonObject
                {
                    ["step"] = Step, ["dev_accuracy"] = report.Accuracy, ["dev_correct"] = report.Correct,
                    ["dev_n"] = report.Total
                });
                if (isBest)
                {
                    Best = (report.Accuracy, Step);
                    trainer.SaveBest(student, info, report);
                }
            }
            else if (Step == o.MaxSteps)
            {
                Best = (null, Step);
                trainer.SaveBest(student, info, null);
            }
            SaveCheckpoint();
        }

        /// <summary>Publishes a checkpoint of where the run stands; returns its folder.</summary>
        public string SaveCheckpoint()
        {
            LastCheckpoint = trainer.SaveCheckpoint(student, info, optimizer,
                new State(Step, epoch, batchInEpoch, Best.Accuracy, Best.Step, ElapsedSeconds));
            return LastCheckpoint;
        }
    }

    // ---- run folder ------------------------------------------------------------------------------------------

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    void WriteRunFile(string path, Dataset train, Dataset? dev, bool pretrained, double lr, int trainExamples)
    {
        var json = new JsonObject
        {
            ["options"] = JsonNode.Parse(o.ToJson()),
            ["pretrained"] = pretrained,
            ["effective_lr"] = lr,
            ["train"] = new JsonObject { ["source"] = train.Source, ["split"] = train.Split, ["examples"] = train.Count, ["used"] = trainExamples },
            ["dev"] = dev is null ? null : new JsonObject { ["source"] = dev.Source, ["split"] = dev.Split, ["examples"] = dev.Count },
            ["started"] = DateTimeOffset.UtcNow.ToString("o"),
        };
        FileOps.WriteAllText(path, json.ToJsonString(Indented) + "\n");
    }

    void CheckSameRun(string runFile)
    {
        if (!File.Exists(runFile)) throw new StepDistillException($"{runFile}: missing, cannot resume the checkpoints in {outDir}");
        var saved = ReadOptions(runFile);
        if (!o.SameRunAs(saved))
            throw new StepDistillException($"{outDir}: holds a run with different options; resume with the same options or use a new run folder\n  " +
                $"saved: {saved.ToJson()}\n  now:   {o.ToJson()}");
    }

    /// <summary>The options a run folder's <c>run.json</c> was started with.</summary>
    public static TrainingOptions ReadOptions(string runFile) =>
        TrainingOptions.FromJson(JsonNode.Parse(File.ReadAllText(runFile))?["options"]?.ToJsonString() ?? "null", runFile);

    /// <summary>What a finished run folder holds, as <see cref="RunAsync"/> returned it (for runs made by another process).</summary>
    public static TrainingResult ReadResult(string outDir)
    {
        var latest = LatestCheckpoint(outDir) ?? throw new StepDistillException($"{outDir}: no checkpoint");
        var state = ReadState(latest);
        var runFile = Path.Combine(outDir, RunFile);
        var used = JsonNode.Parse(File.ReadAllText(runFile))?["train"]?["used"]?.GetValue<int>()
                   ?? throw new StepDistillException($"{runFile}: no train.used");
        return new TrainingResult(state.Step, state.BestAccuracy, state.BestStep, Path.Combine(outDir, BestDir), latest, state.ElapsedSeconds, used);
    }

    static bool ReadPretrained(string runFile) => JsonNode.Parse(File.ReadAllText(runFile))?["pretrained"]?.GetValue<bool>() ?? false;

    void AppendMetrics(JsonObject line) =>
        FileOps.Append(Path.Combine(outDir, MetricsFile), System.Text.Encoding.UTF8.GetBytes(line.ToJsonString() + "\n"));

    /// <summary>Finishes what a crash left half done: removes temporary files and folders, puts back a best/ being replaced.</summary>
    void RecoverRunFolder()
    {
        FileOps.RemoveLeftovers(outDir);
        FileOps.RecoverDirectory(Path.Combine(outDir, BestDir));
    }

    void PruneCheckpoints()
    {
        foreach (var old in Checkpoints(outDir).Reverse().Skip(o.KeepLast).ToList())
            FileOps.DeleteDirectory(old);
    }

    /// <summary>Drops metric lines logged after the checkpoint being resumed (they will be logged again).</summary>
    void TrimMetrics(int step)
    {
        var path = Path.Combine(outDir, MetricsFile);
        if (!File.Exists(path)) return;
        var kept = File.ReadAllLines(path).Where(l =>
        {
            try { return JsonNode.Parse(l)?["step"]?.GetValue<int>() <= step; }
            catch (JsonException) { return false; } // a torn last line from the kill
        });
        var text = string.Concat(kept.Select(l => l + "\n"));
        if (text != File.ReadAllText(path)) FileOps.WriteAllText(path, text);
    }

    static State ReadState(string checkpoint)
    {
        var path = Path.Combine(checkpoint, StateFile);
        var j = JsonNode.Parse(File.ReadAllText(path)) ?? throw new StepDistillException($"{path}: empty");
        return new State(j["step"]!.GetValue<int>(), j["epoch"]!.GetValue<int>(), j["batch_in_epoch"]!.GetValue<int>(),
                         j["best_accuracy"]?.GetValue<double>(), j["best_step"]!.GetValue<int>(), j["elapsed_s"]!.GetValue<double>());
    }

    /// <summary>The newest complete checkpoint folder of a run, or null.</summary>
    public static string? LatestCheckpoint(string outDir) =>
        Directory.Exists(outDir)
            ? Checkpoints(outDir).Where(d => File.Exists(Path.Combine(d, StateFile))).LastOrDefault()
            : null;

    /// <summary>The run's checkpoint folders, oldest first.</summary>
    static IEnumerable<string> Checkpoints(string outDir) =>
        Directory.GetDirectories(outDir, "checkpoint-*").Where(d => !d.EndsWith(".tmp", StringComparison.Ordinal)).OrderBy(d => d, StringComparer.Ordinal);

    /// <summary>Writes a checkpoint into a temporary folder, then publishes it: a kill never leaves a half-written one.</summary>
    string SaveCheckpoint(T5Student student, StudentInfo info, OptimizerHelper optimizer, State s)
    {
        var final = Path.Combine(outDir, $"checkpoint-{s.Step:D7}");
        var tmp = FileOps.CreateTemporaryDirectory(final);
        student.Save(tmp, info);
        FileOps.Write(Path.Combine(tmp, OptimizerFile), stream =>
        {
            using var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
            optimizer.save_state_dict(w);
        });
        using (var rng = random.get_rng_state()) FileOps.WriteAllBytes(Path.Combine(tmp, RngFile), rng.bytes);
        FileOps.WriteAllText(Path.Combine(tmp, StateFile), new JsonObject
        {
            ["step"] = s.Step, ["epoch"] = s.Epoch, ["batch_in_epoch"] = s.BatchInEpoch,
            ["best_accuracy"] = s.BestAccuracy, ["best_step"] = s.BestStep, ["elapsed_s"] = s.ElapsedSeconds,
        }.ToJsonString(Indented));
        FileOps.PublishDirectory(tmp, final);
        PruneCheckpoints();
        return final;
    }

    void SaveBest(T5Student student, StudentInfo info, StepDistill.Evaluation.EvaluationReport? report)
    {
        var final = Path.Combine(outDir, BestDir);
        var tmp = FileOps.CreateTemporaryDirectory(final);
        student.Save(tmp, info);
        FileOps.PublishDirectory(tmp, final);
        if (report is not null)
            FileOps.Write(Path.Combine(outDir, DevPredictionsFile), s => report.WritePredictionsAsync(s).GetAwaiter().GetResult());
    }
}
