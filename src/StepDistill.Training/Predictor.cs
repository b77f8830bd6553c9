using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Student.Generation;

namespace StepDistill.Training;

/// <summary>Batched greedy prediction with a student; only the label task runs unless rationales are asked for.</summary>
public static class Predictor
{
    /// <summary>
    /// Decoded outputs for <paramref name="inputs"/>, each prefixed with <paramref name="prefix"/>. Inputs are
    /// sorted by length into batches (less padding) and the results returned in input order.
    /// </summary>
    public static IReadOnlyList<string> Predict(Student student, IReadOnlyList<string> inputs, string prefix, int batchSize,
                                                int maxNewTokens, int maxInputLength = 512, int numBeams = 1,
                                                Action<int>? progress = null, CancellationToken ct = default)
    {
        var tok = student.Tokenizer;
        var device = student.Model.parameters().First().device;
        var encoded = inputs.Select(x => TruncationCounter.Truncate(tok.Encode(prefix + x), maxInputLength)).ToArray();
        var order = Enumerable.Range(0, inputs.Count).OrderBy(i => encoded[i].Length).ToArray();
        var outputs = new string[inputs.Count];
        var done = 0;
        for (var start = 0; start < order.Length; start += batchSize)
        {
            ct.ThrowIfCancellationRequested();
            var idx = order.Skip(start).Take(batchSize).ToArray();
            using var scope = TorchSharp.torch.NewDisposeScope();
            var (ids, mask) = Batches.PadInputs(idx.Select(i => encoded[i]).ToArray(), device);
            var result = T5Generator.Generate(student.Model, ids, mask, new GenerationOptions { MaxNewTokens = maxNewTokens, NumBeams = numBeams }, ct);
            for (var k = 0; k < idx.Length; k++)
                outputs[idx[k]] = tok.Decode(result.Sequences[k].Select(x => (int)x), skipSpecialTokens: true);
            done += idx.Length;
            progress?.Invoke(done);
        }
        return outputs;
    }

    /// <summary>The prefix the student's label task was trained with (<c>predict: </c> for step-by-step students).</summary>
    public static string LabelPrefix(Student student) => student.Info?.InputPrefix ?? "";

    /// <summary>Predicts every example of <paramref name="data"/> and scores it with the dataset's metric.</summary>
    /// <remarks><paramref name="prefix"/> overrides the student's own (a student being trained has no saved metadata yet).</remarks>
    public static EvaluationReport Evaluate(Student student, Dataset data, int batchSize, int maxNewTokens, int maxInputLength = 512,
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
