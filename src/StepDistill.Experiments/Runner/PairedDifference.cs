namespace StepDistill.Experiments.Runner;

/// <summary>
/// A paired comparison of two methods over seeds: each seed gives both methods the same data subset, data order
/// and initial weights, so the per-seed difference removes what the seed alone decides. <see cref="Mean"/> is the
/// mean difference (B − A), <see cref="Low"/>..<see cref="High"/> its 95% Student-t confidence interval (null with
/// fewer than two pairs), and <see cref="Wins"/> / <see cref="Ties"/> / <see cref="Losses"/> count the seeds on
/// which B was above, equal to or below A.
/// </summary>
internal sealed record PairedDifference(int Pairs, double Mean, double? Low, double? High, int Wins, int Ties, int Losses)
{
    /// <summary>True when the whole 95% interval lies above zero.</summary>
    public bool ClearlyAbove => Low is > 0;

    /// <summary>
    /// Compares <paramref name="b"/> with <paramref name="a"/>, paired by position (one entry per seed).
    /// Differences within <paramref name="tieTolerance"/> count as ties (one question of the test set is a
    /// natural tolerance; accuracies are rounded values of counts).
    /// </summary>
    public static PairedDifference Of(IReadOnlyList<double> a, IReadOnlyList<double> b, double tieTolerance = 1e-9)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count != b.Count || a.Count == 0)
            throw new ArgumentException($"need the same, non-zero number of values on both sides ({a.Count} and {b.Count})");
        var d = a.Zip(b, (x, y) => y - x).ToArray();
        var n = d.Length;
        var mean = d.Average();
        int wins = d.Count(x => x > tieTolerance), losses = d.Count(x => x < -tieTolerance);
        if (n < 2) return new PairedDifference(n, mean, null, null, wins, n - wins - losses, losses);
        var sd = Math.Sqrt(d.Sum(x => (x - mean) * (x - mean)) / (n - 1));
        var half = StudentT975(n - 1) * sd / Math.Sqrt(n);
        return new PairedDifference(n, mean, mean - half, mean + half, wins, n - wins - losses, losses);
    }

    // Two-sided 95% quantiles t(0.975, df) for df = 1..30, from the standard tables.
    static readonly double[] T975 =
    [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];

    /// <summary>The 0.975 quantile of Student's t with <paramref name="df"/> degrees of freedom.</summary>
    internal static double StudentT975(int df)
    {
        if (df < 1) throw new ArgumentOutOfRangeException(nameof(df), df, "at least one degree of freedom");
        if (df <= T975.Length) return T975[df - 1];
        // Cornish-Fisher expansion around the normal quantile: within 0.001 of the table from df = 30 on.
        const double z = 1.959964;
        double z3 = z * z * z, z5 = z3 * z * z;
        return z + (z3 + z) / (4.0 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96.0 * df * df);
    }
}
