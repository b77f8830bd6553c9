using System.Diagnostics.Metrics;
using StepDistill.Inference.Batching;
using StepDistill.Student.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace StepDistill.Inference.Tests;

/// <summary>Batching never changes an output: the same input gives the same tokens alone or in any micro-batch.</summary>
public class BatchingTests
{
    [SkippableFact]
    public async Task SixtyFourConcurrentCalls_EqualOneByOne()
    {
        var inputs = TestModels.MixedInputs(64);
        var options = new DistilledModelOptions
        {
            Device = "cpu", MaxNewTokens = 12, MaxBatchSize = 16, MaxWait = TimeSpan.FromMilliseconds(50), ModelId = "concurrency-test",
        };
        await using var model = DistilledModel.Load(TestModels.StepByStep, options);

        var alone = new List<Completion>();
        foreach (var x in inputs) alone.Add(await model.CompleteAsync(x)); // each runs as a batch of one

        var sizes = new List<int>();
        using var listener = ListenToBatchSizes(sizes, options.ModelId);
        // 64 threads released at once, each making a blocking call, as the request threads of an app would.
        var together = new Completion[inputs.Count];
        var errors = new List<Exception>();
        using var start = new ManualResetEventSlim();
        var threads = inputs.Select((x, i) => new Thread(() =>
        {
            start.Wait();
            try { together[i] = model.CompleteAsync(x).GetAwaiter().GetResult(); }
            catch (Exception e) { lock (errors) errors.Add(e); }
        })).ToList();
        threads.ForEach(t => t.Start());
        start.Set();
        threads.ForEach(t => t.Join());
        Assert.Empty(errors);

        Assert.True(sizes.Count < inputs.Count && sizes.Max() > 1, $"the calls were not batched (batch sizes: {string.Join(",", sizes)})");
        Assert.Equal(inputs.Count, sizes.Sum());
        for (var i = 0; i < inputs.Count; i++) Assert.Equal(alone[i], together[i]);
        // The outputs are not all alike (a model answering a constant would prove nothing).
        Assert.True(alone.Select(c => c.Text).Distinct().Count() > inputs.Count / 2);
        Assert.True(alone.Select(c => c.InputTokens).Distinct().Count() > 8);
    }

    [SkippableFact]
    public void RowsOfOneBucket_GiveTheSameTokensInEveryBatchSizeAndPosition()
    {
        using var student = T5Student.Load(TestModels.StepByStep, CPU);
        var tok = student.Tokenizer;
        var rows = TestModels.MixedInputs(200, seed: 3).Select(x => tok.Encode(x)).Where(r => LengthBuckets.For(r.Length, 512) == 24).Take(12).ToList();
        Assert.True(rows.Count >= 8, $"only {rows.Count} inputs in the 24-token bucket");
        List<int> Run(int[] ids, IEnumerable<int[]> others)
        {
            var batch = others.Prepend(ids).Select(r => new DecodeRow(r, 16)).ToList();
            // Put the row under test in the middle of the batch too.
            (batch[0], batch[batch.Count / 2]) = (batch[batch.Count / 2], batch[0]);
            BatchDecoder.Run(student.Model, batch, 24, numBeams: 1);
            return batch.Single(b => b.Input == ids).Output;
        }
        foreach (var r in rows)
        {
            var alone = Run(r, []);
            Assert.Equal(alone, Run(r, rows.Where(o => o != r).Take(2)));
            Assert.Equal(alone, Run(r, rows.Where(o => o != r)));
            Assert.Equal(alone, Run(r, Enumerable.Repeat(rows.First(o => o != r), 31)));
        }
    }

    [SkippableFact]
    public void GreedyDecoding_MatchesT5Generator()
    {
        using var student = T5Student.Load(TestModels.StepByStep, CPU);
        foreach (var x in TestModels.MixedInputs(6, seed: 5))
        {
            var ids = student.Tokenizer.Encode(x);
            var row = new DecodeRow(ids, 10);
            BatchDecoder.Run(student.Model, [row], ids.Length, numBeams: 1);
            using var scope = NewDisposeScope();
            var input = tensor(ids.Select(i => (long)i).ToArray(), ScalarType.Int64).unsqueeze(0);
            var reference = T5Generator.Generate(student.Model, input, ones_like(input), new GenerationOptions { MaxNewTokens = 10 });
            Assert.Equal(reference.Sequences[0].Skip(1).Take(row.Output.Count).Select(t => (int)t), row.Output);
        }
    }

    [SkippableFact]
    public async Task BeamSearch_ConcurrentCallsEqualOneByOne()
    {
        var inputs = TestModels.MixedInputs(16, seed: 9);
        var options = new DistilledModelOptions { Device = "cpu", MaxNewTokens = 6, NumBeams = 3, MaxWait = TimeSpan.FromMilliseconds(50) };
        await using var model = DistilledModel.Load(TestModels.StepByStep, options);
        var alone = new List<Completion>();
        foreach (var x in inputs) alone.Add(await model.CompleteAsync(x));
        var together = await Task.WhenAll(inputs.Select(x => Task.Run(() => model.CompleteAsync(x))));
        Assert.Equal(alone, together);
    }

    [SkippableFact]
    public void Predictor_GivesWhatTheModelGives()
    {
        var inputs = TestModels.MixedInputs(20, seed: 11);
        using var model = DistilledModel.Load(TestModels.StepByStep, new DistilledModelOptions { Device = "cpu", MaxNewTokens = 8 });
        var fromModel = model.Predict(inputs);
        using var student = T5Student.Load(TestModels.StepByStep, CPU);
        Assert.Equal(fromModel, Predictor.Predict(student, inputs, StudentInfo.PredictPrefix, batchSize: 7, maxNewTokens: 8));
    }

    [SkippableFact]
    public void Decoding_LeavesNoLiveTensors()
    {
        using var student = T5Student.Load(TestModels.StepByStep, CPU);
        var inputs = TestModels.MixedInputs(8, seed: 13);
        Predictor.Predict(student, inputs, "", 4, 6); // warm-up: lazily created tensors
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Predictor.Predict(student, inputs, "", 4, 6);
        Predictor.Predict(student, inputs, "", 3, 6, numBeams: 2);
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void LengthBuckets_AreStepsOfAtMostAThird()
    {
        int[] expected = [8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];
        Assert.Equal(expected, Enumerable.Range(1, 512).Select(n => LengthBuckets.For(n, 512)).Distinct());
        Assert.Equal(100, LengthBuckets.For(97, 100)); // capped at the maximum input length
        Assert.Equal(130, LengthBuckets.For(130, 100)); // never below the input itself
    }

    /// <summary>Collects the batch sizes of the model named <paramref name="modelId"/> (other tests run models in parallel).</summary>
    internal static MeterListener ListenToBatchSizes(List<int> sizes, string modelId)
    {
        var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == InferenceMetrics.MeterName && instrument.Name == InferenceMetrics.BatchSize) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<int>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == InferenceMetrics.ModelTag && Equals(tag.Value, modelId))
                    lock (sizes) sizes.Add(value);
        });
        listener.Start();
        return listener;
    }
}
