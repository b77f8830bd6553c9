using System.Diagnostics.Metrics;
using StepDistill.Inference.Batching;
using StepDistill.Student.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace StepDistill.Inference.Tests;

/// <summary>Batching never changes an output: the same input gives the same tokens alone or in any micro-batch.</summary>
public class BatchingTests
{
    [Trait("Category", "SharedData")]
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

        // Rows per decoding step: some steps decoded many calls' rows together.
        Assert.True(sizes.Max() > 4, $"the calls were not batched (rows per step: {string.Join(",", sizes)})");
        for (var i = 0; i < inputs.Count; i++) Assert.Equal(alone[i], together[i]);
        // The outputs are not all alike (a model answering a constant would prove nothing).
        Assert.True(alone.Select(c => c.Text).Distinct().Count() > inputs.Count / 2);
        Assert.True(alone.Select(c => c.InputTokens).Distinct().Count() > 8);
    }

    /// <summary>
    /// Decodes <paramref name="rows"/> with the step decoder: row i joins the batch before step <paramref name="joinAt"/>[i]
    /// (a later row keeps waiting while the batch is empty); returns each row's tokens.
    /// </summary>
    static List<List<int>> Decode(T5Student student, IReadOnlyList<(int[] Ids, int MaxNew)> rows, IReadOnlyList<int> joinAt)
    {
        using var noGrad = no_grad();
        using var decoder = new StepDecoder(student.Model, 512);
        var decodeRows = rows.Select(r => new DecodeRow(r.Ids, r.MaxNew)).ToList();
        for (var step = 0; decoder.Count > 0 || step <= joinAt.Max(); step++)
        {
            decoder.Admit(decodeRows.Where((_, i) => joinAt[i] == step).ToList());
            decoder.Step();
        }
        Assert.Equal(0, decoder.Count);
        return decodeRows.Select(r => r.Output).ToList();
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void ARowGivesTheSameTokens_WhateverItsBatchMates_TheirLengths_AndWhenItJoins()
    {
        using var student = T5Student.Load(TestModels.StepByStep, CPU);
        var tok = student.Tokenizer;
        var inputs = TestModels.MixedInputs(24, seed: 3).Select(x => tok.Encode(x)).ToList();
        Assert.True(inputs.Select(r => LengthBuckets.For(r.Length, 512)).Distinct().Count() >= 3, "the inputs should span several padded lengths");
        var rng = new Random(7);
        foreach (var (ids, i) in inputs.Take(10).Select((r, i) => (r, i)))
        {
            var alone = Decode(student, [(ids, 16)], [0])[0];
            Assert.NotEmpty(alone);
            // With batch-mates of every length and two token limits, the row joining first, in the middle, and late.
            var mates = inputs.Where(o => o != ids).OrderBy(_ => rng.Next()).Take(11).Select((o, j) => (o, j % 3 == 0 ? 8 : 16)).ToList();
            foreach (var position in new[] { 0, 5, 11 })
                foreach (var joins in new[] { 0, 3 })
                {
                    var rows = mates.ToList();
                    rows.Insert(position, (ids, 16));
                    var joinAt = rows.Select((_, j) => j == position ? joins : rng.Next(0, 5)).ToList();
                    Assert.Equal(alone, Decode(student, rows, joinAt)[position]);
                }
            // Thirty-one copies of one other input around it.
            var copies = Enumerable.Repeat((inputs[(i + 1) % inputs.Count], 16), 31).Prepend((ids, 16)).ToList();
            Assert.Equal(alone, Decode(student, copies, copies.Select((_, j) => j % 4).ToList())[0]);
        }
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void GreedyDecoding_MatchesT5Generator()
    {
        using var student = T5Student.Load(TestModels.StepByStep, CPU);
        foreach (var x in TestModels.MixedInputs(6, seed: 5))
        {
            var ids = student.Tokenizer.Encode(x);
            var output = Decode(student, [(ids, 10)], [0])[0];
            using var scope = NewDisposeScope();
            var input = tensor(ids.Select(i => (long)i).ToArray(), ScalarType.Int64).unsqueeze(0);
            var logits = new List<float[]>();
            var reference = T5Generator.Generate(student.Model, input, ones_like(input), new GenerationOptions
            {
                MaxNewTokens = 10, OnStepLogits = (_, l) => logits.Add(l[0].to(ScalarType.Float32).data<float>().ToArray()),
            });
            var expected = reference.Sequences[0].Skip(1).Take(output.Count).Select(t => (int)t).ToList();
            // The step decoder reduces over a fixed-length self-attention buffer, the generator over a growing cache:
            // the same sums in another order. Tokens must agree up to the first near-tie (random weights have many),
            // which must then be a tie within float32 rounding of the logits.
            var k = expected.Zip(output).TakeWhile(p => p.First == p.Second).Count();
            if (k < Math.Min(expected.Count, output.Count))
            {
                var gap = Math.Abs(logits[k][expected[k]] - logits[k][output[k]]);
                var scale = logits[k].Max(Math.Abs);
                Assert.True(gap <= 1e-5 * scale, $"token {k}: {output[k]} instead of {expected[k]}, logit gap {gap} (scale {scale}) is no near-tie");
                continue;
            }
            Assert.Equal(expected, output);
        }
    }

    [Trait("Category", "SharedData")]
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

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void Predictor_GivesWhatTheModelGives()
    {
        var inputs = TestModels.MixedInputs(20, seed: 11);
        using var model = DistilledModel.Load(TestModels.StepByStep, new DistilledModelOptions { Device = "cpu", MaxNewTokens = 8 });
        var fromModel = model.Predict(inputs);
        using var student = T5Student.Load(TestModels.StepByStep, CPU);
        Assert.Equal(fromModel, Predictor.Predict(student, inputs, StudentInfo.PredictPrefix, batchSize: 7, maxNewTokens: 8));
    }

    [Trait("Category", "SharedData")]
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
