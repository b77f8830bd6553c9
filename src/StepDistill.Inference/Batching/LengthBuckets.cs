using static TorchSharp.torch;

namespace StepDistill.Inference.Batching;

/// <summary>
/// The padded length of an input: a pure function of its own length, so an input is padded the same whether it runs
/// alone or with others. Buckets are 8, 12, 16, 24, 32, 48, 64, ... (at most a third of a row is padding). Padding
/// changes the length of every reduction over keys (softmax sums, attention-weighted sums), whose float result depends
/// on that length even when the extra terms are exact zeros; a fixed length per input removes that source of
/// difference. Rows of different buckets share a decoding step but never a reduction (see <see cref="StepDecoder"/>).
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

    /// <summary>Right-pads every row's input to <paramref name="length"/> and builds the attention mask.</summary>
    public static (Tensor Ids, Tensor Mask) Pad(IReadOnlyList<DecodeRow> rows, int length, int padId, Device device)
    {
        var ids = new long[rows.Count * length];
        var mask = new long[rows.Count * length];
        Array.Fill(ids, padId);
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i].Input;
            if (row.Length > length) throw new ArgumentException($"row {i} has {row.Length} tokens, more than the padded length {length}");
            for (var j = 0; j < row.Length; j++) { ids[i * length + j] = row[j]; mask[i * length + j] = 1; }
        }
        return (tensor(ids, [rows.Count, length]).to(device), tensor(mask, [rows.Count, length]).to(device));
    }
}
