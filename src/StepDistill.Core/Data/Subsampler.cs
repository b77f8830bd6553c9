namespace StepDistill.Data;

/// <summary>
/// Seeded, nested subsampling: one permutation per (n, seed), of which a fraction f keeps the first
/// ceil(f·n) positions. So with the same seed the 12.5% subset lies inside the 25% subset, as in the
/// paper's data-size curves. The permutation comes from our own SplitMix64 generator, not System.Random,
/// so a seed selects the same subset on every .NET version.
/// </summary>
public static class Subsampler
{
    /// <summary>
    /// The examples chosen for <paramref name="fraction"/> (in (0, 1]), returned in their original order.
    /// At least one item is kept from a non-empty list.
    /// </summary>
    public static IReadOnlyList<T> Subsample<T>(IReadOnlyList<T> items, double fraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(items);
        var keep = SubsetSize(items.Count, fraction);
        if (keep == items.Count) return items;
        var chosen = Permutation(items.Count, seed).AsSpan(0, keep).ToArray();
        Array.Sort(chosen);
        var result = new T[keep];
        for (var i = 0; i < keep; i++) result[i] = items[chosen[i]];
        return result;
    }

    /// <summary>ceil(fraction·n), tolerant of binary rounding (0.7·10 is 7, not 8), and at least 1 when n &gt; 0.</summary>
    public static int SubsetSize(int n, double fraction)
    {
        if (!(fraction > 0 && fraction <= 1))
            throw new StepDistillException($"subsample fraction must be in (0, 1], got {fraction}");
        if (n == 0) return 0;
        var k = (int)Math.Ceiling(fraction * n - 1e-9 * n);
        return Math.Clamp(k, 1, n);
    }

    /// <summary>A seeded Fisher-Yates permutation of 0..n-1.</summary>
    internal static int[] Permutation(int n, int seed)
    {
        var p = new int[n];
        for (var i = 0; i < n; i++) p[i] = i;
        var state = (ulong)(uint)seed ^ 0x5DEECE66DUL;
        for (var i = n - 1; i > 0; i--)
        {
            var j = (int)Bounded(ref state, (ulong)i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    static ulong Next(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, bound) by rejection, so no index is favoured.</summary>
    static ulong Bounded(ref ulong state, ulong bound)
    {
        var limit = ulong.MaxValue - ulong.MaxValue % bound;
        while (true)
        {
            var r = Next(ref state);
            if (r < limit) return r % bound;
        }
    }
}
