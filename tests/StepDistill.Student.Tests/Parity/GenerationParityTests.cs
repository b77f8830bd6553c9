using StepDistill.Student.Generation;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests.Parity;

/// <summary>Greedy and beam-search ids (and scores) against Hugging Face's <c>generate</c>.</summary>
[Collection("generator hooks")]
public class GenerationParityTests
{
    static long[][] Rows(Tensor t)
    {
        var flat = Reference.Longs(t);
        var cols = (int)t.shape[1];
        return Enumerable.Range(0, (int)t.shape[0]).Select(i => flat.Skip(i * cols).Take(cols).ToArray()).ToArray();
    }

    [SkippableTheory]
    [InlineData("t5-tiny-v1_0")]
    [InlineData("t5-tiny-v1_1")]
    public void Greedy_MatchesHuggingFace_IdsAndStepLogits(string checkpoint)
    {
        using var r = new Reference(checkpoint);
        using var model = r.LoadModel();
        var top5Ids = r["generate.greedy.step_top5_ids"];
        var top5Logits = r["generate.greedy.step_top5_logits"];
        var steps = 0;
        var onStep = (int step, Tensor logits) =>
        {
            var (vals, idx) = logits.topk(5, dim: -1);
            Assert.Equal(Reference.Longs(top5Ids[step]), Reference.Longs(idx));
            Reference.AssertClose(top5Logits[step], vals, 1e-4, 1e-5, $"step {step} top-5 logits");
            steps++;
        };
        var result = T5Generator.Generate(model, r["forward.input_ids"], r["forward.attention_mask"], new GenerationOptions { MaxNewTokens = 12, OnStepLogits = onStep });
        Assert.Equal(Rows(r["generate.greedy.sequences"]), result.Sequences);
        Assert.Equal(12, steps);
    }

    [SkippableTheory]
    [InlineData("t5-tiny-v1_0", 1)]
    [InlineData("t5-tiny-v1_0", 3)]
    [InlineData("t5-tiny-v1_1", 1)]
    [InlineData("t5-tiny-v1_1", 3)]
    public void BeamSearch_MatchesHuggingFace_IdsAndScores(string checkpoint, int returnSequences)
    {
        using var r = new Reference(checkpoint);
        using var model = r.LoadModel();
        var key = returnSequences == 1 ? "generate.beam3" : "generate.beam3_all";
        var result = T5Generator.Generate(model, r["forward.input_ids"], r["forward.attention_mask"],
            new GenerationOptions { MaxNewTokens = 12, NumBeams = 3, NumReturnSequences = returnSequences });
        Assert.Equal(Rows(r[$"{key}.sequences"]), result.Sequences);
        Reference.AssertClose(r[$"{key}.sequences_scores"], tensor(result.Scores!), 1e-5, 1e-5, "sequence scores");
    }

    [SkippableFact]
    public void Batched_EqualsOneByOne()
    {
        using var r = new Reference("t5-tiny-v1_1");
        using var model = r.LoadModel();
        var ids = r["forward.input_ids"];
        var mask = r["forward.attention_mask"];
        var batched = T5Generator.Generate(model, ids, mask, new GenerationOptions { MaxNewTokens = 8, NumBeams = 2 });
        for (var i = 0; i < ids.shape[0]; i++)
        {
            var len = mask[i].sum().item<long>();
            var single = T5Generator.Generate(model, ids[i].narrow(0, 0, len).unsqueeze(0), mask[i].narrow(0, 0, len).unsqueeze(0),
                new GenerationOptions { MaxNewTokens = 8, NumBeams = 2 });
            Assert.Equal(single.Sequences[0], batched.Sequences[i].Take(single.Sequences[0].Length));
        }
    }
}
