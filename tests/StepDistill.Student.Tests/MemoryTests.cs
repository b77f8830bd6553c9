using System.Diagnostics;
using StepDistill.Student.Generation;
using StepDistill.Student.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests;

/// <summary>Resident memory is per process: these tests must not run beside others that load models.</summary>
[CollectionDefinition(nameof(MemoryTests), DisableParallelization = true)]
public sealed class MemoryTestsCollection;

/// <summary>A training step and generation must not leak native memory.</summary>
[Collection(nameof(MemoryTests))]
public class MemoryTests
{
    static long Rss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }

    [Fact]
    public void TrainingSteps_KeepLiveTensorsAndResidentMemorySteady()
    {
        manual_seed(0);
        var config = T5Config.Presets["tiny"] with { VocabSize = 300, DropoutRate = 0.1 };
        using var model = new T5ForConditionalGeneration(config);
        model.train();
        var optimizer = optim.AdamW(model.parameters(), lr: 1e-3);
        using var ids = randint(3, 300, [16, 40], dtype: ScalarType.Int64);
        using var mask = ones_like(ids);
        using var labels = randint(3, 300, [16, 12], dtype: ScalarType.Int64);

        void Step()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var (_, loss) = model.Forward(ids, mask, labels);
            loss.backward();
            optimizer.step();
        }

        for (var i = 0; i < 50; i++) Step(); // optimizer state and allocator pools settle
        var liveBefore = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 150; i++) Step();
        var rssMiddle = Rss();
        for (var i = 0; i < 150; i++) Step();
        var liveAfter = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var rssAfter = Rss();

        // Each step allocates hundreds of tensors: a per-step leak shows up as a growing live count.
        Assert.True(liveAfter - liveBefore <= 0, $"live tensors grew from {liveBefore} to {liveAfter} over 300 steps");
        // A step holds about 10 MB of activations: leaking them would add over a gigabyte per 150 steps. Compare two
        // windows after warm-up, so one-off growth (allocator arenas, JIT) does not count.
        Assert.True(rssAfter - rssMiddle < 48L << 20, $"resident memory grew by {(rssAfter - rssMiddle) >> 20} MiB over the last 150 steps");
    }

    [Fact]
    public void Generation_LeavesNoLiveTensors()
    {
        manual_seed(1);
        using var model = new T5ForConditionalGeneration(T5Config.Presets["tiny"] with { VocabSize = 300 });
        using var ids = randint(3, 300, [4, 20], dtype: ScalarType.Int64);
        using var mask = ones_like(ids);
        T5Generator.Generate(model, ids, mask, new GenerationOptions { MaxNewTokens = 5, NumBeams = 2 });
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 5; i++)
        {
            T5Generator.Generate(model, ids, mask, new GenerationOptions { MaxNewTokens = 10 });
            T5Generator.Generate(model, ids, mask, new GenerationOptions { MaxNewTokens = 10, NumBeams = 3, NumReturnSequences = 2 });
        }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
