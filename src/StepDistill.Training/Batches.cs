using StepDistill.Data;
using StepDistill.Student.Model;
using StepDistill.Tokenization;
using static TorchSharp.torch;

namespace StepDistill.Training;

/// <summary>One training example as token ids: the label task's input and target, and the rationale task's.</summary>
internal sealed record EncodedExample(string Id, int[] Input, int[] Label, int[]? ExplainInput, int[]? Rationale);

internal static class Batches
{
    /// <summary>
    /// Tokenizes the training set for <paramref name="o"/>'s method and label source. Examples without a label from
    /// that source are skipped (and counted); over-long sequences are truncated (and counted).
    /// </summary>
    public static List<EncodedExample> Encode(IReadOnlyList<Example> examples, ITextTokenizer tok, TrainingOptions o,
                                              TruncationCounter counter, out int skipped)
    {
        var result = new List<EncodedExample>(examples.Count);
        skipped = 0;
        foreach (var e in examples)
        {
            var label = o.Labels == LabelSource.Gold ? e.Label : e.TeacherLabel;
            if (label is null) { skipped++; continue; }
            var labelIds = counter.TruncateTarget(tok.Encode(label), o.MaxTargetLength);
            if (o.Method == Method.Standard)
            {
                result.Add(new EncodedExample(e.Id, counter.TruncateInput(tok.Encode(e.Input), o.MaxInputLength), labelIds, null, null));
                continue;
            }
            var input = counter.TruncateInput(tok.Encode(MethodNames.PredictPrefix + e.Input), o.MaxInputLength);
            int[]? explain = null, rationale = null;
            if (!string.IsNullOrEmpty(e.Rationale))
            {
                explain = counter.TruncateInput(tok.Encode(MethodNames.ExplainPrefix + e.Input), o.MaxInputLength);
                rationale = counter.TruncateTarget(tok.Encode(e.Rationale), o.MaxTargetLength);
            }
            result.Add(new EncodedExample(e.Id, input, labelIds, explain, rationale));
        }
        return result;
    }

    /// <summary>
    /// The batches of one epoch: a seeded shuffle, then length bucketing (sort within chunks of 50 batches) to cut
    /// padding, then a seeded shuffle of the batch order. A pure function of (seed, epoch), so a resumed run sees
    /// exactly the batches the interrupted one would have.
    /// </summary>
    public static List<int[]> Epoch(IReadOnlyList<EncodedExample> data, int batchSize, int seed, int epoch)
    {
        var rng = new Random(unchecked(seed * 1_000_003 + epoch * 7919 + 17));
        var order = Enumerable.Range(0, data.Count).ToArray();
        rng.Shuffle(order);
        var batches = new List<int[]>();
        var chunk = batchSize * 50;
        for (var start = 0; start < order.Length; start += chunk)
        {
            var sorted = order.Skip(start).Take(chunk)
                              .OrderBy(i => data[i].Input.Length + data[i].Label.Length).ThenBy(i => i).ToArray();
            for (var b = 0; b < sorted.Length; b += batchSize) batches.Add(sorted.Skip(b).Take(batchSize).ToArray());
        }
        var shuffled = batches.ToArray();
        rng.Shuffle(shuffled);
        return shuffled.ToList();
    }

    /// <summary>Right-pads inputs with the pad id (<see cref="ITextTokenizer.PadId"/>) and builds the attention mask.</summary>
    public static (Tensor Ids, Tensor Mask) PadInputs(IReadOnlyList<int[]> rows, Device device)
    {
        var len = rows.Max(r => r.Length);
        var ids = new long[rows.Count * len];
        Array.Fill(ids, ITextTokenizer.PadId);
        var mask = new long[rows.Count * len];
        for (var i = 0; i < rows.Count; i++)
            for (var j = 0; j < rows[i].Length; j++) { ids[i * len + j] = rows[i][j]; mask[i * len + j] = 1; }
        return (tensor(ids, [rows.Count, len]).to(device), tensor(mask, [rows.Count, len]).to(device));
    }

    /// <summary>Right-pads targets with the loss's ignore index (<see cref="T5ForConditionalGeneration.IgnoreIndex"/>).</summary>
    public static Tensor PadLabels(IReadOnlyList<int[]> rows, Device device)
    {
        var len = rows.Max(r => r.Length);
        var ids = Enumerable.Repeat(T5ForConditionalGeneration.IgnoreIndex, rows.Count * len).ToArray();
        for (var i = 0; i < rows.Count; i++)
            for (var j = 0; j < rows[i].Length; j++) ids[i * len + j] = rows[i][j];
        return tensor(ids, [rows.Count, len]).to(device);
    }
}
