using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Inference.Batching;

namespace StepDistill.Inference;

/// <summary>
/// Offline batched prediction with a student on the calling thread (evaluation, the <c>predict</c> verb). It pads and
/// batches exactly as <see cref="DistilledModel"/> does, so both give the same outputs for the same inputs.
/// </summary>
public static class Predictor
{
    /// <summary>
    /// Decoded outputs for <paramref name="inputs"/>, each prefixed with <paramref name="prefix"/>. Inputs are sorted
    /// by padded length (fewer groups per step); results come back in input order.
    /// </summary>
    /// <param name="student">The student.</param>
    /// <param name="inputs">The inputs, without prefix.</param>
    /// <param name="prefix">Put before every input.</param>
    /// <param name="batchSize">Most inputs per batch.</param>
    /// <param name="maxNewTokens">Most tokens generated per input.</param>
    /// <param name="maxInputLength">Inputs are cut to this many tokens.</param>
    /// <param name="numBeams">1 = greedy.</param>
    /// <param name="progress">Called with the number of inputs done whenever some finish.</param>
    /// <param name="ct">Cancels between decoding steps.</param>
    public static IReadOnlyList<string> Predict(T5Student student, IReadOnlyList<string> inputs, string prefix, int batchSize,
                                                int maxNewTokens, int maxInputLength = 512, int numBeams = 1,
                                                Action<int>? progress = null, CancellationToken ct = default)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be at least 1");
        var tok = student.Tokenizer;
        var rows = inputs.Select(x => new DecodeRow(TruncationCounter.Truncate(tok.Encode(prefix + x), maxInputLength), maxNewTokens)).ToArray();
        var padded = rows.Select(r => LengthBuckets.For(r.Input.Length, maxInputLength)).ToArray();
        var order = Enumerable.Range(0, rows.Length).OrderBy(i => padded[i]).ThenBy(i => rows[i].Input.Length).ThenBy(i => i).ToArray();
        if (numBeams == 1) Greedy(student, order.Select(i => rows[i]).ToList(), batchSize, maxInputLength, progress, ct);
        else
        {
            var done = 0;
            for (var start = 0; start < order.Length;)
            {
                ct.ThrowIfCancellationRequested();
                var length = padded[order[start]];
                var idx = order.Skip(start).Take(batchSize).TakeWhile(i => padded[i] == length).ToArray();
                BeamDecoder.Run(student.Model, idx.Select(i => rows[i]).ToList(), length, numBeams, ct);
                start += idx.Length;
                done += idx.Length;
                progress?.Invoke(done);
            }
        }
        return rows.Select(r => tok.Decode(r.Output, skipSpecialTokens: true)).ToList();
    }

    /// <summary>Continuous batching as in <see cref="DistilledModel"/>: a finished row's place goes to the next input at once.</summary>
    static void Greedy(T5Student student, List<DecodeRow> rows, int batchSize, int maxInputLength, Action<int>? progress, CancellationToken ct)
    {
        using var noGrad = TorchSharp.torch.no_grad();
        using var decoder = new StepDecoder(student.Model, maxInputLength);
        var (next, done) = (0, 0);
        while (next < rows.Count || decoder.Count > 0)
        {
            ct.ThrowIfCancellationRequested();
            var joining = rows.Skip(next).Take(batchSize - decoder.Count).ToList();
            decoder.Admit(joining);
            next += joining.Count;
            var ended = decoder.Step().Count;
            if (ended == 0) continue;
            done += ended;
            progress?.Invoke(done);
        }
    }

    /// <summary>The prefix the student's label task was trained with (<c>predict: </c> for step-by-step students).</summary>
    public static string LabelPrefix(T5Student student) => student.Info?.InputPrefix ?? "";

    /// <summary>Predicts every example of <paramref name="data"/> and scores it with the dataset's metric.</summary>
    /// <remarks><paramref name="prefix"/> overrides the student's own (a student being trained has no saved metadata yet).</remarks>
    /// <param name="student">The student.</param>
    /// <param name="data">Examples with gold labels.</param>
    /// <param name="batchSize">Most inputs per batch.</param>
    /// <param name="maxNewTokens">Most tokens generated per input.</param>
    /// <param name="maxInputLength">Inputs are cut to this many tokens.</param>
    /// <param name="progress">Called with the number of inputs done after each batch.</param>
    /// <param name="prefix">Null: the student's stored prefix.</param>
    /// <param name="ct">Cancels between decoding steps.</param>
    public static EvaluationReport Evaluate(T5Student student, Dataset data, int batchSize, int maxNewTokens, int maxInputLength = 512,
                                            Action<int>? progress = null, string? prefix = null, CancellationToken ct = default)
    {
        var predictions = Predict(student, data.Examples.Select(e => e.Input).ToList(), prefix ?? LabelPrefix(student), batchSize,
                                  maxNewTokens, maxInputLength, progress: progress, ct: ct);
        // As the paper's code does, gold labels are compared after a trip through the tokenizer, so a student
        // is not marked wrong for what its vocabulary cannot spell (e.g. normalised spaces).
        var tok = student.Tokenizer;
        var labels = data.Examples.Select(e => e.Label is null ? e : e with { Label = tok.Decode(tok.Encode(e.Label)) }).ToList();
        return Metrics.Score(data.Metric, labels, predictions);
    }
}
