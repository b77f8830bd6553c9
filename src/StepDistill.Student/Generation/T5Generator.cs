using StepDistill.Student.Model;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StepDistill.Student.Generation;

/// <summary>How to generate. Defaults follow Hugging Face's <c>generate</c> (greedy, length penalty 1).</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>HF's <c>min_new_tokens</c>: EOS is forbidden until this many tokens were generated.</summary>
    public int MinNewTokens { get; init; }
    public int NumBeams { get; init; } = 1;
    public int NumReturnSequences { get; init; } = 1;
    public double LengthPenalty { get; init; } = 1.0;
    /// <summary>HF's <c>early_stopping=True</c>: stop an input once it has <see cref="NumBeams"/> finished hypotheses.</summary>
    public bool EarlyStopping { get; init; }
    /// <summary>
    /// Called at each greedy step with the step and its last-position logits (valid only during the call), for
    /// inspection: the parity tests compare them with Hugging Face's. Passed per call, so parallel generations never share it.
    /// </summary>
    public Action<int, Tensor>? OnStepLogits { get; init; }
}

/// <summary>
/// Generated ids per returned sequence, starting with the decoder start token and padded like Hugging Face's
/// output; <see cref="Scores"/> are the beam scores (null for greedy).
/// </summary>
public sealed record GenerationResult(long[][] Sequences, float[]? Scores);

/// <summary>
/// Greedy and beam search with a key/value cache, matching transformers 4.30's <c>generate</c> for T5
/// (no logits processors; beam scoring as <c>BeamSearchScorer</c> with <c>BeamHypotheses</c>).
/// </summary>
public static class T5Generator
{
    public static GenerationResult Generate(T5ForConditionalGeneration model, Tensor inputIds, Tensor attentionMask,
                                            GenerationOptions options, CancellationToken ct = default)
    {
        if (options.MaxNewTokens < 1) throw new ArgumentException("max new tokens must be at least 1");
        if (options.NumBeams < 1) throw new ArgumentException("num beams must be at least 1");
        if (options.NumReturnSequences < 1 || options.NumReturnSequences > options.NumBeams)
            throw new ArgumentException($"num return sequences must be between 1 and num beams ({options.NumBeams})");
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var device = model.parameters().First().device;
            var ids = inputIds.to(device);
            var mask = attentionMask.to(device);
            return options.NumBeams == 1
                ? Greedy(model, ids, mask, options.MaxNewTokens, options.MinNewTokens, options.OnStepLogits, ct)
                : Beam(model, ids, mask, options, ct);
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    static GenerationResult Greedy(T5ForConditionalGeneration model, Tensor ids, Tensor mask, int maxNew, int minNew,
                                   Action<int, Tensor>? onStepLogits, CancellationToken ct)
    {
        var c = model.Config;
        var batch = (int)ids.shape[0];
        using var cache = new DecoderCache(model.Decoder.Layers);
        var encoded = model.Encode(ids, mask);
        var seqs = Enumerable.Range(0, batch).Select(_ => new List<long> { c.DecoderStartTokenId }).ToArray();
        var unfinished = Enumerable.Repeat(true, batch).ToArray();
        var last = seqs.Select(s => s[^1]).ToArray();
        for (var step = 0; step < maxNew; step++)
        {
            ct.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            var input = tensor(last, ScalarType.Int64).view(batch, 1).to(encoded.device);
            var logits = model.LmHead(model.Decode(input, encoded, mask, cache)).select(1, -1);
            if (step < minNew) logits = SuppressEos(logits, c.EosTokenId);
            onStepLogits?.Invoke(step, logits);
            var next = logits.argmax(-1).cpu().data<long>().ToArray();
            for (var b = 0; b < batch; b++)
            {
                var token = unfinished[b] ? next[b] : c.PadTokenId;
                seqs[b].Add(token);
                last[b] = token;
                if (token == c.EosTokenId) unfinished[b] = false;
            }
            if (!unfinished.Any(u => u)) break;
        }
        return new GenerationResult(seqs.Select(s => s.ToArray()).ToArray(), null);
    }

    /// <summary>HF's MinNewTokensLengthLogitsProcessor: the EOS logit becomes -inf.</summary>
    static Tensor SuppressEos(Tensor logits, int eos)
    {
        var copy = logits.clone();
        copy.select(1, eos).fill_(double.NegativeInfinity);
        return copy;
    }

    /// <summary>HF's <c>BeamHypotheses</c>: the best finished hypotheses of one input.</summary>
    sealed class Hypotheses(int numBeams, double lengthPenalty, bool earlyStopping)
    {
        public readonly List<(double Score, long[] Tokens)> Beams = new();
        double worst = 1e9;

        public void Add(long[] tokens, double sumLogProbs)
        {
            var score = sumLogProbs / Math.Pow(tokens.Length, lengthPenalty);
            if (Beams.Count < numBeams || score > worst)
            {
                Beams.Add((score, tokens));
                if (Beams.Count > numBeams)
                {
                    var sorted = Beams.Select((b, i) => (b.Score, i)).OrderBy(x => x.Score).ThenBy(x => x.i).ToList();
                    Beams.RemoveAt(sorted[0].i);
                    worst = sorted[1].Score;
                }
                else worst = Math.Min(score, worst);
            }
        }

        public bool IsDone(double bestSumLogProbs, int curLen)
        {
            if (Beams.Count < numBeams) return false;
            if (earlyStopping) return true;
            return worst >= bestSumLogProbs / Math.Pow(curLen, lengthPenalty);
        }
    }

    static GenerationResult Beam(T5ForConditionalGeneration model, Tensor ids, Tensor mask, GenerationOptions o, CancellationToken ct)
    {
        var c = model.Config;
        var batch = (int)ids.shape[0];
        var k = o.NumBeams;
        var maxLength = 1 + o.MaxNewTokens; // HF counts the decoder start token
        using var cache = new DecoderCache(model.Decoder.Layers);
        var expandedMask = mask.repeat_interleave(k, 0);
        var encoded = model.Encode(ids, mask).repeat_interleave(k, 0);

        var hyps = Enumerable.Range(0, batch).Select(_ => new Hypotheses(k, o.LengthPenalty, o.EarlyStopping)).ToArray();
        var done = new bool[batch];
        var seqs = Enumerable.Range(0, batch * k).Select(_ => new long[] { c.DecoderStartTokenId }).ToArray();
        var beamScores = new float[batch * k];
        for (var b = 0; b < batch; b++) for (var j = 1; j < k; j++) beamScores[b * k + j] = -1e9f;

        while (true)
        {
            ct.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            var curLen = seqs[0].Length;
            var input = tensor(seqs.Select(s => s[^1]).ToArray(), ScalarType.Int64).view(batch * k, 1).to(encoded.device);
            var logits = model.LmHead(model.Decode(input, encoded, expandedMask, cache)).select(1, -1);
            if (curLen - 1 < o.MinNewTokens) logits = SuppressEos(logits, c.EosTokenId);
            var vocab = logits.shape[^1];
            var scores = F.log_softmax(logits.to(ScalarType.Float32), -1)
                         + tensor(beamScores, ScalarType.Float32).to(encoded.device).unsqueeze(1);
            var (topScores, topIds) = scores.view(batch, k * vocab).topk(2 * k, dim: 1, largest: true, sorted: true);
            var ts = topScores.cpu().data<float>().ToArray();
            var ti = topIds.cpu().data<long>().ToArray();

            var nextScores = new float[batch * k];
            var nextTokens = new long[batch * k];
            var nextIndices = new long[batch * k];
            for (var b = 0; b < batch; b++)
            {
                if (done[b])
                {
                    for (var j = 0; j < k; j++) { nextScores[b * k + j] = 0; nextTokens[b * k + j] = c.PadTokenId; nextIndices[b * k + j] = 0; }
                    continue;
                }
                var beamIdx = 0;
                for (var rank = 0; rank < 2 * k; rank++)
                {
                    var score = ts[b * 2 * k + rank];
                    var token = ti[b * 2 * k + rank] % vocab;
                    var source = b * k + ti[b * 2 * k + rank] / vocab;
                    if (token == c.EosTokenId)
                    {
                        if (rank >= k) continue; // only an EOS among the top num_beams candidates finishes a hypothesis
                        hyps[b].Add(seqs[source], score);
                    }
                    else
                    {
                        nextScores[b * k + beamIdx] = score;
                        nextTokens[b * k + beamIdx] = token;
                        nextIndices[b * k + beamIdx] = source;
                        beamIdx++;
                    }
                    if (beamIdx == k) break;
                }
                // HF takes the max over all 2k candidate scores (sorted, so the first).
                done[b] = done[b] || hyps[b].IsDone(ts[b * 2 * k], curLen);
            }

            seqs = Enumerable.Range(0, batch * k).Select(i => seqs[nextIndices[i]].Append(nextTokens[i]).ToArray()).ToArray();
            beamScores = nextScores;
            cache.Select(tensor(nextIndices, ScalarType.Int64).to(encoded.device));
            if (done.All(d => d) || seqs[0].Length >= maxLength) break;
        }

        // Finalize: open beams of unfinished inputs become hypotheses too.
        for (var b = 0; b < batch; b++)
        {
            if (done[b]) continue;
            for (var j = 0; j < k; j++) hyps[b].Add(seqs[b * k + j], beamScores[b * k + j]);
        }
        var best = new List<long[]>();
        var bestScores = new List<float>();
        for (var b = 0; b < batch; b++)
        {
            var sorted = hyps[b].Beams.Select((h, i) => (h, i)).OrderBy(x => x.h.Score).ThenBy(x => x.i).Select(x => x.h).ToList();
            for (var j = 0; j < o.NumReturnSequences; j++)
            {
                var top = sorted[^1];
                sorted.RemoveAt(sorted.Count - 1);
                best.Add(top.Tokens);
                bestScores.Add((float)top.Score);
            }
        }
        var maxLen = Math.Min(best.Max(h => h.Length) + 1, maxLength);
        var decoded = best.Select(h =>
        {
            var row = Enumerable.Repeat((long)c.PadTokenId, maxLen).ToArray();
            Array.Copy(h, row, h.Length);
            if (h.Length < maxLen) row[h.Length] = c.EosTokenId;
            return row;
        }).ToArray();
        return new GenerationResult(decoded, bestScores.ToArray());
    }
}
