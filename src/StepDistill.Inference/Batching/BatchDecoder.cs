using StepDistill.Student.Generation;
using StepDistill.Student.Model;
using static TorchSharp.torch;

namespace StepDistill.Inference.Batching;

/// <summary>
/// Runs one micro-batch: rows of one padded length through the encoder, then greedy decoding with a key/value cache
/// (the same operations as <see cref="T5Generator"/>'s greedy search), or beam search through <see cref="T5Generator"/>.
/// Each row's result depends only on its own ids and padded length: rows never attend to each other, padding keys are
/// masked by adding the most negative float (exp gives an exact 0), and a finished row keeps decoding pad tokens
/// without influencing the others. Every tensor is freed by a dispose scope before returning.
/// </summary>
internal static class BatchDecoder
{
    /// <summary>Decodes <paramref name="rows"/>, all padded to <paramref name="paddedLength"/>; results go into the rows.</summary>
    public static void Run(T5ForConditionalGeneration model, IReadOnlyList<DecodeRow> rows, int paddedLength, int numBeams, CancellationToken ct = default)
    {
        if (rows.Count == 0) return;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var device = model.parameters().First().device;
        var (ids, mask) = Pad(rows, paddedLength, model.Config.PadTokenId, device);
        if (numBeams == 1) Greedy(model, rows, ids, mask, ct);
        else Beam(model, rows, ids, mask, numBeams, ct);
    }

    /// <summary>Right-pads to <paramref name="length"/> and builds the attention mask.</summary>
    internal static (Tensor Ids, Tensor Mask) Pad(IReadOnlyList<DecodeRow> rows, int length, int padId, Device device)
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

    static void Greedy(T5ForConditionalGeneration model, IReadOnlyList<DecodeRow> rows, Tensor ids, Tensor mask, CancellationToken ct)
    {
        var c = model.Config;
        var batch = rows.Count;
        using var cache = new DecoderCache(model.Decoder.Layers);
        var encoded = model.Encode(ids, mask);
        var last = Enumerable.Repeat((long)c.DecoderStartTokenId, batch).ToArray();
        var open = Enumerable.Repeat(true, batch).ToArray();
        var maxSteps = rows.Max(r => r.MaxNewTokens);
        for (var step = 0; step < maxSteps; step++)
        {
            ct.ThrowIfCancellationRequested();
            for (var b = 0; b < batch; b++)
                if (open[b] && rows[b].Abandoned?.Invoke() == true) open[b] = false;
            if (!open.Any(o => o)) break;
            using var stepScope = NewDisposeScope();
            var input = tensor(last, ScalarType.Int64).view(batch, 1).to(encoded.device);
            var logits = model.LmHead(model.Decode(input, encoded, mask, cache)).select(1, -1);
            var next = logits.argmax(-1).cpu().data<long>().ToArray();
            for (var b = 0; b < batch; b++)
            {
                if (!open[b]) { last[b] = c.PadTokenId; continue; }
                var token = (int)next[b];
                var row = rows[b];
                row.Output.Add(token);
                last[b] = token;
                if (token == c.EosTokenId) { row.Finish = CompletionFinishReason.Stop; open[b] = false; }
                else if (row.Output.Count >= row.MaxNewTokens) { row.Finish = CompletionFinishReason.Length; open[b] = false; }
                row.OnToken?.Invoke(token);
            }
        }
    }

    static void Beam(T5ForConditionalGeneration model, IReadOnlyList<DecodeRow> rows, Tensor ids, Tensor mask, int numBeams, CancellationToken ct)
    {
        var c = model.Config;
        var maxNew = rows[0].MaxNewTokens;
        if (rows.Any(r => r.MaxNewTokens != maxNew)) throw new ArgumentException("beam search batches rows with one token limit");
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
