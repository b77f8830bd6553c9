using StepDistill.Data;

namespace StepDistill.Tests.Data;

public class TruncationCounterTests
{
    [Fact]
    public void Cuts_keeping_the_end_token_and_counts()
    {
        var c = new TruncationCounter();
        int[] fits = [5, 6, 1];
        Assert.Same(fits, c.TruncateInput(fits, 3));
        Assert.Equal([5, 6, 1], c.TruncateInput([5, 6, 7, 8, 1], 3));   // keeps EOS last, like HF with T5
        Assert.Equal([5, 6, 7], c.TruncateTarget([5, 6, 7, 8], 3));     // no EOS: plain cut
        Assert.Equal([5, 6, 7], c.TruncateTarget([5, 6, 7, 8, 1], 3, endToken: null));
        Assert.Equal([1], c.TruncateTarget([5, 1], 1));
        Assert.Equal((1, 2, 3, 3), (c.TruncatedInputs, c.InputsSeen, c.TruncatedTargets, c.TargetsSeen));
        Assert.Equal("truncated 1 of 2 inputs and 3 of 3 targets", c.ToString());
    }

    [Fact]
    public void Counts_correctly_from_many_threads()
    {
        var c = new TruncationCounter();
        Parallel.For(0, 10_000, i => c.TruncateInput(new int[i % 4], 2));
        Assert.Equal(10_000, c.InputsSeen);
        Assert.Equal(2_500, c.TruncatedInputs); // lengths 3 only
    }

    [Fact]
    public void Rejects_non_positive_limits() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => TruncationCounter.Truncate([1], 0));
}
