using StepDistill.Student.Generation;
using StepDistill.Student.Model;
using static TorchSharp.torch;

namespace StepDistill.Inference.Batching;

/// <summary>
/// Beam search over one micro-batch of rows padded to one length, through <see cref="T5Generator"/> (greedy decoding
/// runs in <see cref="StepDecoder"/> instead). Rows never attend to each other and padding keys are masked, so each
/// row's result depends only on its own ids and padded length. Every tensor is freed by a dispose scope.
/// </summary>
internal static class BeamDecoder
{
    /// <summary>Decodes <paramref name="rows"/> (one token limit), all padded to <paramref name="paddedLength"/>; results go into the rows.</summary>
    public static void Run(T5ForConditionalGeneration model, IReadOnlyList<DecodeRow> rows, int paddedLength, int numBeams, CancellationToken ct = default)
    {
        if (rows.Count == 0) return;
        var c = model.Config;
        var maxNew = rows[0].MaxNewTokens;
        if (rows.Any(r => r.MaxNewTokens != maxNew)) throw new ArgumentException("beam search batches rows with one token limit");
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var device = model.parameters().First().device;
        var (ids, mask) = LengthBuckets.Pad(rows, paddedLength, c.PadTokenId, device);
        var result = T5Generator.Generate(model, ids, mask, new GenerationOptions { MaxNewTokens = maxNew, NumBeams = numBeams }, ct);
        for (var b = 0; b < rows.Count; b++)
        {
            var row = rows[b];
            foreach (var t in result.Sequences[b].Skip(1))
            {
                if (t == c.PadTokenId && c.PadTokenId != c.EosTokenId) break;
                row.Output.Add((int)t);
                if (t == c.EosTokenId) { row.Finish = CompletionFinishReason.Stop; break; }
            }
            if (row.Output.Count > maxNew) row.Output.RemoveRange(maxNew, row.Output.Count - maxNew);
            foreach (var t in row.Output) row.OnToken?.Invoke(t);
        }
    }
}
