using StepDistill.Student.Generation;
using StepDistill.Student.Model;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests;

/// <summary>Generation behaviour on models built here (no shared fixtures).</summary>
public class GeneratorTests
{
    static (T5ForConditionalGeneration Model, Tensor Ids, Tensor Mask) Setup()
    {
        manual_seed(7);
        var model = new T5ForConditionalGeneration(T5Config.Presets["tiny"] with { VocabSize = 6, TieWordEmbeddings = false });
        model.eval();
        var ids = randint(2, 6, [8, 5], dtype: ScalarType.Int64);
        var mask = ones_like(ids);
        // Make EOS the favourite first token (and id 3 the runner-up): the LM head rows point along the
        // decoder's first hidden state, all other rows are zero.
        using (no_grad())
        {
            var start = zeros(8, 1, dtype: ScalarType.Int64);
            var h = model.Decode(start, model.Encode(ids, mask), mask).select(1, 0).mean([0L]);
            var head = model.named_parameters().Single(p => p.name == "lm_head.weight").parameter;
            head.zero_();
            head[1].copy_(h * 10);
            head[3].copy_(h * 5);
        }
        return (model, ids, mask);
    }

    [Fact]
    public void MinNewTokens_ForbidsEosUntilReached()
    {
        var (model, ids, mask) = Setup();
        using var _ = model;
        var free = T5Generator.Generate(model, ids, mask, new GenerationOptions { MaxNewTokens = 12 });
        Assert.Contains(free.Sequences, s => s.Skip(1).Contains(1L)); // with 6 ids, EOS comes early somewhere
        foreach (var beams in new[] { 1, 2 })
        {
            var forced = T5Generator.Generate(model, ids, mask, new GenerationOptions { MaxNewTokens = 12, MinNewTokens = 12, NumBeams = beams });
            Assert.All(forced.Sequences, s => { Assert.Equal(13, s.Length); Assert.DoesNotContain(1L, s.Skip(1)); });
        }
    }

    [Fact]
    public void GreedyRows_StopAtEos_AndArePaddedAfterIt()
    {
        var (model, ids, mask) = Setup();
        using var _ = model;
        var result = T5Generator.Generate(model, ids, mask, new GenerationOptions { MaxNewTokens = 12 });
        foreach (var s in result.Sequences)
        {
            Assert.Equal(0, s[0]);
            var eos = Array.IndexOf(s, 1L, 1);
            if (eos > 0) Assert.All(s.Skip(eos + 1), t => Assert.Equal(0, t));
        }
    }

    [Fact]
    public void Options_AreValidated()
    {
        var (model, ids, mask) = Setup();
        using var _ = model;
        Assert.Throws<ArgumentException>(() => T5Generator.Generate(model, ids, mask, new GenerationOptions { MaxNewTokens = 0 }));
        Assert.Throws<ArgumentException>(() => T5Generator.Generate(model, ids, mask, new GenerationOptions { NumBeams = 2, NumReturnSequences = 3 }));
    }
}
