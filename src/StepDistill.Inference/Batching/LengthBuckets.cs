namespace StepDistill.Inference.Batching;

/// <summary>
/// The padded length of an input: a pure function of its own length, so an input is padded the same whether it runs
/// alone or in a micro-batch. Buckets are 8, 12, 16, 24, 32, 48, 64, ... (at most a third of a row is padding), and
/// only inputs of one bucket share a batch. Padding changes the length of every reduction over keys (softmax sums,
/// attention-weighted sums), whose float result depends on that length even when the extra terms are exact zeros;
/// a fixed length per input removes that source of difference.
/// </summary>
internal static class LengthBuckets
{
    const int Smallest = 8;

    /// <summary>The padded length for an input of <paramref name="length"/> tokens, never above <paramref name="cap"/> unless the input is.</summary>
    public static int For(int length, int cap)
    {
        var b = Smallest;
        while (b < length) b = (b & (b - 1)) == 0 ? b + b / 2 : b / 3 * 4;
        return Math.Max(length, Math.Min(b, cap));
    }
}
