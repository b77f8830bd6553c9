using static TorchSharp.torch;

namespace StepDistill.Inference.Tests;

public class DistilledModelTests
{
    static DistilledModelOptions Cpu(int maxNewTokens = 8) => new() { Device = "cpu", MaxNewTokens = maxNewTokens, MaxRationaleTokens = 10 };

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void Load_AppliesTheStoredPrefix()
    {
        var inputs = TestModels.MixedInputs(6, seed: 21);
        using var student = T5Student.Load(TestModels.StepByStep, CPU);
        using var stepByStep = DistilledModel.Load(TestModels.StepByStep, Cpu());
        using var standard = DistilledModel.Load(TestModels.Standard, Cpu());
        Assert.Equal("predict: ", stepByStep.InputPrefix);
        Assert.Equal("", standard.InputPrefix);
        Assert.Equal(Predictor.Predict(student, inputs, "predict: ", 8, 8), stepByStep.Predict(inputs));
        Assert.Equal(Predictor.Predict(student, inputs, "", 8, 8), standard.Predict(inputs));
        Assert.Equal(stepByStep.CountInputTokens(inputs[0]), stepByStep.Complete(inputs[0]).InputTokens);
        Assert.Equal(standard.CountInputTokens("predict: " + inputs[0]), stepByStep.CountInputTokens(inputs[0]));
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public async Task Explain_GivesLabelAndRationale_OnlyForStepByStepStudents()
    {
        var x = TestModels.MixedInputs(1, seed: 22)[0];
        using var student = T5Student.Load(TestModels.StepByStep, CPU);
        await using var model = DistilledModel.Load(TestModels.StepByStep, Cpu());
        var e = await model.ExplainAsync(x);
        Assert.Equal(model.Predict(x), e.Label);
        Assert.Equal(Predictor.Predict(student, [x], "explain: ", 1, 10)[0], e.Rationale);
        Assert.Equal(e, model.Explain(x));

        await using var standard = DistilledModel.Load(TestModels.Standard, Cpu());
        Assert.False(standard.CanExplain);
        var error = Assert.Throws<StepDistillException>(() => standard.Explain(x));
        Assert.Contains("standard", error.Message);
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public async Task PerCallTokenLimit_IsHonoured()
    {
        await using var model = DistilledModel.Load(TestModels.StepByStep, Cpu(maxNewTokens: 12));
        var x = TestModels.MixedInputs(3, seed: 23)[2];
        var full = await model.CompleteAsync(x);
        Assert.True(full.OutputTokens > 3, "this input needs an answer longer than 3 tokens");
        var cut = await model.CompleteAsync(x, new CompletionOptions { MaxNewTokens = 3 });
        Assert.Equal(3, cut.OutputTokens);
        Assert.Equal(CompletionFinishReason.Length, cut.FinishReason);
        Assert.StartsWith(cut.Text.TrimEnd(), full.Text);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => model.CompleteAsync(x, new CompletionOptions { MaxNewTokens = 0 }));
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public async Task Streaming_PiecesConcatenateToTheAnswer()
    {
        await using var model = DistilledModel.Load(TestModels.StepByStep, Cpu(maxNewTokens: 10));
        foreach (var x in TestModels.MixedInputs(4, seed: 24))
        {
            var updates = new List<CompletionUpdate>();
            await foreach (var u in model.CompleteStreamingAsync(x)) updates.Add(u);
            var whole = await model.CompleteAsync(x);
            Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
            Assert.True(updates.Count(u => u.Text.Length > 0) > 1, "the answer came in one piece");
            Assert.All(updates.SkipLast(1), u => Assert.Null(u.FinishReason));
            Assert.Equal(whole.FinishReason, updates[^1].FinishReason);
            Assert.Equal(whole.OutputTokens, updates[^1].OutputTokens);
            Assert.Equal(whole.InputTokens, updates[^1].InputTokens);
        }
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public async Task FullQueue_RefusesTheWholeCall_AndCancelledCallsLeaveIt()
    {
        // A long max wait keeps queued inputs waiting for company, so the queue fills without timing.
        var options = Cpu() with { MaxQueueLength = 4, MaxBatchSize = 16, MaxWait = TimeSpan.FromSeconds(10) };
        await using var model = DistilledModel.Load(TestModels.StepByStep, options);
        var inputs = Enumerable.Range(0, 5).Select(i => $"cats {i}").ToList(); // one length bucket
        using var cts = new CancellationTokenSource();
        var queued = inputs.Take(3).Select(x => model.CompleteAsync(x, null, cts.Token)).ToList();
        Assert.Equal(3, model.QueueLength);
        var full = await Assert.ThrowsAsync<QueueFullException>(() => model.CompleteAsync(inputs.TakeLast(2).ToList()));
        Assert.Equal((3, 2, 4), (full.Queued, full.Requested, full.Capacity));
        Assert.Equal(3, model.QueueLength); // nothing of the refused call was queued
        cts.Cancel();
        foreach (var t in queued) await Assert.ThrowsAnyAsync<OperationCanceledException>(() => t);
        Assert.Equal(0, model.QueueLength);
        Assert.Equal(2, (await model.CompleteAsync(inputs.TakeLast(2).ToList(), null, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60))).Count);
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public async Task CallsCancelledWhileDecoding_LeaveTheBatch_AndTheOthersAnswerAsAlone()
    {
        await using var model = DistilledModel.Load(TestModels.StepByStep, Cpu(maxNewTokens: 12) with { MaxWait = TimeSpan.FromMilliseconds(200) });
        var inputs = TestModels.MixedInputs(8, seed: 26);
        var alone = new List<Completion>();
        foreach (var x in inputs) alone.Add(await model.CompleteAsync(x));
        Assert.All(alone, c => Assert.True(c.OutputTokens > 2, "each answer must take several steps for a cancellation mid-way"));

        // Every odd call streams and cancels itself after its second token, in the middle of the shared decoding.
        var tasks = inputs.Select(async (x, i) =>
        {
            if (i % 2 == 0) return (Completion?)await model.CompleteAsync(x);
            using var cts = new CancellationTokenSource();
            var tokens = 0;
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                await foreach (var _ in model.CompleteStreamingAsync(x, null, cts.Token))
                    if (++tokens == 2) cts.Cancel();
            });
            Assert.True(tokens >= 2);
            return null;
        }).ToList();
        var results = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(120));
        for (var i = 0; i < inputs.Count; i += 2) Assert.Equal(alone[i], results[i]);
        // The cancelled rows are gone: the model still answers, and nothing is queued or stuck.
        Assert.Equal(alone[1], await model.CompleteAsync(inputs[1]));
        Assert.Equal(0, model.QueueLength);
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public async Task Dispose_FinishesQueuedCalls_ThenRefusesNewOnes()
    {
        var model = DistilledModel.Load(TestModels.StepByStep, Cpu() with { MaxBatchSize = 2 });
        var inputs = TestModels.MixedInputs(6, seed: 25);
        var expected = inputs.Select(x => model.Predict(x)).ToList();
        var pending = inputs.Select(x => model.PredictAsync(x)).ToList();
        await model.DisposeAsync();
        // Every call accepted before disposal is answered (none cancelled or failed).
        Assert.Equal(expected, await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Throws<ObjectDisposedException>(() => model.Predict("x"));
        model.Dispose(); // twice is fine
    }

    [Fact]
    public void Options_AreValidated_WithThePropertyName()
    {
        var e = Assert.Throws<StepDistillException>(() => new DistilledModelOptions { MaxBatchSize = 0 }.Validate());
        Assert.Contains("MaxBatchSize", e.Message);
        Assert.Contains("MaxWait", Assert.Throws<StepDistillException>(() => new DistilledModelOptions { MaxWait = TimeSpan.FromSeconds(-1) }.Validate()).Message);
        Assert.Throws<StepDistillException>(() => DistilledModel.Load("/no/such/folder", new DistilledModelOptions { Device = "cpu" }));
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void ModelId_ComesFromTheFolderOrTheOptions()
    {
        using (var m = DistilledModel.Load(TestModels.StepByStep, Cpu())) Assert.Equal("step-by-step", m.ModelId);
        using (var m = DistilledModel.Load(TestModels.StepByStep, Cpu() with { ModelId = "legs-v2" })) Assert.Equal("legs-v2", m.ModelId);
    }
}
