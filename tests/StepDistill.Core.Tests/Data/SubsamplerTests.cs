using StepDistill.Data;
using StepDistill.Evaluation;

namespace StepDistill.Tests.Data;

public class SubsamplerTests
{
    static readonly int[] Items = Enumerable.Range(0, 1000).ToArray();

    [Fact]
    public void Smaller_fractions_are_subsets_of_larger_ones_with_the_same_seed()
    {
        var fractions = new[] { 0.01, 0.125, 0.25, 0.5, 0.8, 1.0 };
        foreach (var seed in new[] { 0, 1, 42, -7 })
        {
            var subsets = fractions.Select(f => Subsampler.Subsample(Items, f, seed)).ToArray();
            for (var i = 1; i < subsets.Length; i++)
                Assert.Subset(subsets[i].ToHashSet(), subsets[i - 1].ToHashSet());
            Assert.Equal([10, 125, 250, 500, 800, 1000], subsets.Select(s => s.Count));
        }
    }

    [Fact]
    public void Keeps_original_order_is_deterministic_and_depends_on_the_seed()
    {
        var a = Subsampler.Subsample(Items, 0.25, 3);
        Assert.Equal(a.Order(), a);                           // original order
        Assert.Equal(a, Subsampler.Subsample(Items, 0.25, 3)); // same seed, same subset
        Assert.NotEqual(a, Subsampler.Subsample(Items, 0.25, 4));
        Assert.Equal(250, a.Distinct().Count());
        Assert.Same(Items, Subsampler.Subsample(Items, 1.0, 3));
    }

    [Fact]
    public void Spreads_over_the_whole_set()
    {
        // A biased generator (e.g. always the first items) would fail this.
        var a = Subsampler.Subsample(Items, 0.5, 11);
        Assert.InRange(a.Count(i => i < 500), 200, 300);
    }

    [Fact]
    public void Permutation_is_a_permutation() =>
        Assert.Equal(Enumerable.Range(0, 97), Subsampler.Permutation(97, 5).Order());

    [Theory]
    [InlineData(10, 0.7, 7)]   // 0.7 * 10 is 7.000000000000001 in binary: still 7
    [InlineData(10, 0.71, 8)]  // ceil
    [InlineData(800, 0.125, 100)]
    [InlineData(3, 0.01, 1)]   // at least one
    [InlineData(0, 0.5, 0)]
    public void Subset_size_is_ceil(int n, double fraction, int expected) =>
        Assert.Equal(expected, Subsampler.SubsetSize(n, fraction));

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.5)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void Rejects_fractions_outside_zero_one(double fraction) =>
        Assert.Throws<StepDistillException>(() => Subsampler.Subsample(Items, fraction, 0));

    [Fact]
    public void Dataset_subsample_keeps_metadata()
    {
        var d = new Dataset("x", "train", TaskKind.Svamp, MetricKind.Equation, "src",
            Enumerable.Range(0, 8).Select(i => new Example(i.ToString(System.Globalization.CultureInfo.InvariantCulture), "in")).ToArray());
        var half = d.Subsample(0.5, 1);
        Assert.Equal(4, half.Count);
        Assert.Equal((d.Name, d.Task, d.Metric), (half.Name, half.Task, half.Metric));
        Assert.Subset(d.Examples.ToHashSet(), half.Examples.ToHashSet());
    }
}
