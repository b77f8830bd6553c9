using StepDistill.Student.Model;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StepDistill.Student.Generation;

/// <summary>How to generate. Defaults follow Hugging Face's <c>generate</c> (greedy, length penalty 1).</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate after the decoder start token.</summary>
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>HF's <c>min_new_tokens</c>: EOS is forbidden until this many tokens were generated.</summary>
    public int MinNewTokens { get; init; }
    /// <summary>1 = greedy search; more = beam search with this many beams.</summary>
    public int NumBeams { get; init; } = 1;
    /// <summary>Sequences returned per input (at most <see cref="NumBeams"/>), best first.</summary>
    public int NumReturnSequences { get; init; } = 1;
    /// <summary>Beam scores are divided by length to this power (HF's <c>length_penalty</c>).</summary>
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
    /// <summary>Generates for a batch of inputs (<paramref name="inputIds"/> padded, <paramref name="attentionMask"/> 1 on real tokens) as Hugging
    /// Face's <c>generate</c> with these options.</summary>
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

    /// <summary>
    /// The flat layouts of beam search: row <c>b·k + j</c> is beam j of input b; candidate <c>b·2k + r</c> is input b's
    /// r-th best (beam, token) pair, whose flat id <c>beam·vocab + token</c> comes from a top-k over <c>k·vocab</c> scores.
    /// </summary>
    readonly record struct BeamLayout(int Batch, int K, long Vocab)
    {
        public int Rows => Batch * K;
        public int Row(int input, int beam) => input * K + beam;
        public int Candidate(int input, int rank) => input * 2 * K + rank;
        public long Token(long flatId) => flatId % Vocab;
        public long SourceRow(int input, long flatId) => input * K + flatId / Vocab;
    }

    /// <summary>The beams that continue: per row, its score, its new token and the row it extends.</summary>
    sealed class NextBeams(int rows)
    {
        public readonly float[] Scores = new float[rows];
        public readonly long[] Tokens = new long[rows];
        public readonly long[] Sources = new long[rows];
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
        var beamScores = InitialBeamScores(batch, k);

        while (true)
        {
            ct.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            var curLen = seqs[0].Length;
            var input = tensor(seqs.Select(s => s[^1]).ToArray(), ScalarType.Int64).view(batch * k, 1).to(encoded.device);
            var logits = model.LmHead(model.Decode(input, encoded, expandedMask, cache)).select(1, -1);
            if (curLen - 1 < o.MinNewTokens) logits = SuppressEos(logits, c.EosTokenId);
            var layout = new BeamLayout(batch, k, logits.shape[^1]);
            var (topScores, topIds) = TopCandidates(logits, beamScores, layout);

            var next = new NextBeams(layout.Rows);
            for (var b = 0; b < batch; b++)
            {
                if (done[b])
                {
                    for (var j = 0; j < k; j++) (next.Scores[layout.Row(b, j)], next.Tokens[layout.Row(b, j)], next.Sources[layout.Row(b, j)]) = (0,
                        c.PadTokenId, 0);
                    continue;
                }
                SelectBeams(b, topScores, topIds, layout, c.EosTokenId, seqs, hyps[b], next);
                // HF takes the max over all 2k candidate scores (sorted, so the first).
                done[b] = done[b] || hyps[b].IsDone(topScores[layout.Candidate(b, 0)], curLen);
            }

            seqs = Enumerable.Range(0, layout.Rows).Select(i => seqs[next.Sources[i]].Append(next.Tokens[i]).ToArray()).ToArray();
            beamScores = next.Scores;
            cache.Select(tensor(next.Sources, ScalarType.Int64).to(encoded.device));
            if (done.All(d => d) || seqs[0].Length >= maxLength) break;
        }

        // Finalize: open beams of unfinished inputs become hypotheses too.
        for (var b = 0; b < batch; b++)
        {
            if (done[b]) continue;
            for (var j = 0; j < k; j++) hyps[b].Add(seqs[b * k + j], beamScores[b * k + j]);
        }
        var (best, bestScores) = BestHypotheses(hyps, o.NumReturnSequences);
        return new GenerationResult(PadFinished(best, maxLength, c.PadTokenId, c.EosTokenId), bestScores);
    }

    /// <summary>Only beam 0 of each input starts live (HF: -1e9 for the others, so the first step does not pick k copies).</summary>
    static float[] InitialBeamScores(int batch, int k)
    {
        var scores = new float[batch * k];
        for (var b = 0; b < batch; b++) for (var j = 1; j < k; j++) scores[b * k + j] = -1e9f;
        return scores;
    }

    /// <summary>Per input, the 2k best (beam, token) continuations by summed log-probability, best first (flat ids, see <see cref="BeamLayout"/>).</summary>
    static (float[] Scores, long[] FlatIds) TopCandidates(Tensor logits, float[] beamScores, BeamLayout layout)
    {
        var scores = F.log_softmax(logits.to(ScalarType.Float32), -1)
                     + tensor(beamScores, ScalarType.Float32).to(logits.device).unsqueeze(1);
        var (topScores, topIds) = scores.view(layout.Batch, layout.K * layout.Vocab).topk(2 * layout.K, dim: 1, largest: true, sorted: true);
        return (topScores.cpu().data<float>().ToArray(), topIds.cpu().data<long>().ToArray());
    }

    /// <summary>
    /// HF's <c>BeamSearchScorer.process</c> for one input: walks its candidates best first; an EOS among the top k ends a
    /// hypothesis, other tokens fill the k beams that continue.
    /// </summary>
    static void SelectBeams(int b, float[] topScores, long[] topIds, BeamLayout layout, int eos, long[][] seqs, Hypotheses hyps, NextBeams next)
    {
        var beamIdx = 0;
        for (var rank = 0; rank < 2 * layout.K; rank++)
        {
            var score = topScores[layout.Candidate(b, rank)];
            var flatId = topIds[layout.Candidate(b, rank)];
            var token = layout.Token(flatId);
            var source = layout.SourceRow(b, flatId);
            if (token == eos)
            {
                if (rank >= layout.K) continue; // only an EOS among the top num_beams candidates finishes a hypothesis
                hyps.Add(seqs[source], score);
            }
            else
            {
                var row = layout.Row(b, beamIdx);
                (next.Scores[row], next.Tokens[row], next.Sources[row]) = (score, token, source);
                beamIdx++;
            }
            if (beamIdx == layout.K) break;
        }
    }

    /// <summary>The <paramref name="perInput"/> best hypotheses of each input, best first, with their scores.</summary>
    static (List<long[]> Tokens, float[] Scores) BestHypotheses(Hypotheses[] hyps, int perInput)
    {
        var best = new List<long[]>();
        var bestScores = new List<float>();
        foreach (var h in hyps)
        {
            var sorted = h.Beams.Select((x, i) => (x, i)).OrderBy(x => x.x.Score).ThenBy(x => x.i).Select(x => x.x).ToList();
            for (var j = 0; j < perInput; j++)
            {
                var top = sorted[^1];
                sorted.RemoveAt(sorted.Count - 1);
                best.Add(top.Tokens);
                bestScores.Add((float)top.Score);
            }
        }
        return (best, bestScores.ToArray());
    }

    /// <summary>HF's finalize: one row per hypothesis, EOS after it when there is room, padded to the longest (at most <paramref name="maxLength"/>).</summary>
    static long[][] PadFinished(List<long[]> best, int maxLength, int pad, int eos)
    {
        var maxLen = Math.Min(best.Max(h => h.Length) + 1, maxLength);
        return best.Select(h =>
        {
            var row = Enumerable.Repeat((long)pad, maxLen).ToArray();
            Array.Copy(h, row, h.Length);
            if (h.Length < maxLen) row[h.Length] = eos;
            return row;
        }).ToArray();
    }
}
