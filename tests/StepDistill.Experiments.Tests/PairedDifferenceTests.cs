using StepDistill.Experiments.Runner;

namespace StepDistill.Experiments.Tests;

public sealed class PairedDifferenceTests
{
    [Fact]
    public void Three_pairs_give_the_hand_computed_mean_interval_and_wins()
    {
        // Differences 0.03, 0.01, 0.05: mean 0.03, sample s.d. 0.02, t(0.975, 2) = 4.303,
        // half-width 4.303 * 0.02 / sqrt(3) = 0.049687.
        var d = PairedDifference.Of([0.80, 0.85, 0.90], [0.83, 0.86, 0.95]);
        Assert.Equal(3, d.Pairs);
        Assert.Equal(0.03, d.Mean, 12);
        Assert.Equal(0.03 - 0.0496868, d.Low!.Value, 6);
        Assert.Equal(0.03 + 0.0496868, d.High!.Value, 6);
        Assert.Equal((3, 0, 0), (d.Wins, d.Ties, d.Losses));
        Assert.False(d.ClearlyAbove);
    }

    [Fact]
    public void Ties_and_losses_are_counted_and_a_tight_gain_is_clearly_above_zero()
    {
        // Differences 0.1, 0, -0.1, 0.2: mean 0.05, s.d. sqrt(0.05 / 3) = 0.1290994, t(0.975, 3) = 3.182.
        var d = PairedDifference.Of([0.5, 0.5, 0.5, 0.5], [0.6, 0.5, 0.4, 0.7]);
        Assert.Equal(0.05, d.Mean, 12);
        Assert.Equal(0.05 - 3.182 * 0.1290994 / 2, d.Low!.Value, 6);
        Assert.Equal((2, 1, 1), (d.Wins, d.Ties, d.Losses));

        var tight = PairedDifference.Of([0.70, 0.72, 0.71], [0.80, 0.81, 0.82]);
        Assert.True(tight.ClearlyAbove);
        Assert.True(tight.Low > 0.05);
    }

    [Fact]
    public void One_pair_has_no_interval_and_mismatched_sides_are_refused()
    {
        var d = PairedDifference.Of([0.5], [0.4]);
        Assert.Equal((1, -0.1, 0, 0, 1), (d.Pairs, Math.Round(d.Mean, 12), d.Wins, d.Ties, d.Losses));
        Assert.Null(d.Low);
        Assert.Null(d.High);
        Assert.False(d.ClearlyAbove);
        Assert.Throws<ArgumentException>(() => PairedDifference.Of([0.5, 0.6], [0.4]));
        Assert.Throws<ArgumentException>(() => PairedDifference.Of([], []));
    }

    [Theory]
    [InlineData(1, 12.706)]
    [InlineData(2, 4.303)]
    [InlineData(30, 2.042)]
    [InlineData(40, 2.021)]
    [InlineData(120, 1.980)]
    [InlineData(100000, 1.960)]
    public void Student_t_quantiles_match_the_tables(int df, double expected) =>
        Assert.Equal(expected, PairedDifference.StudentT975(df), 3);
}
