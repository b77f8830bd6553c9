using StepDistill.Student.Model;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests.Parity;

/// <summary>Forward pass, relative-position buckets and position biases against Hugging Face transformers 4.30.</summary>
public class ForwardParityTests(ITestOutputHelper output)
{
    public static TheoryData<string> Checkpoints => new() { "t5-tiny-v1_0", "t5-tiny-v1_1" };

    [SkippableTheory]
    [MemberData(nameof(Checkpoints))]
    public void RelativePositionBuckets_MatchHuggingFace(string checkpoint)
    {
        using var r = new Reference(checkpoint);
        foreach (var (rel, bi, uni) in new[] {
            ("buckets.relative_position_7x9", "buckets.bidirectional_7x9", "buckets.unidirectional_7x9"),
            ("buckets.relative_position_range", "buckets.bidirectional_range", "buckets.unidirectional_range") })
        {
            using var b = T5Attention.RelativePositionBucket(r[rel], bidirectional: true, 32, 128);
            using var u = T5Attention.RelativePositionBucket(r[rel], bidirectional: false, 32, 128);
            Assert.Equal(Reference.Longs(r[bi]), Reference.Longs(b));
            Assert.Equal(Reference.Longs(r[uni]), Reference.Longs(u));
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Checkpoints))]
    public void PositionBias_MatchesHuggingFace(string checkpoint)
    {
        using var r = new Reference(checkpoint);
        using var model = r.LoadModel();
        CheckPositionBias(r, model, output);
    }

    [SkippableTheory]
    [MemberData(nameof(Checkpoints))]
    public void Forward_HiddenStatesAttentionsLogitsAndLoss_MatchHuggingFace(string checkpoint)
    {
        using var r = new Reference(checkpoint);
        using var model = r.LoadModel();
        output.WriteLine(Float32Tolerance.CpuSetup());
        CheckForward(r, model, output);
    }

    /// <summary>The position biases of both stacks (a table lookup: any CPU gives the same bits, n = 1).</summary>
    internal static void CheckPositionBias(Reference r, T5ForConditionalGeneration model, ITestOutputHelper? log)
    {
        using var enc = model.Encoder.ComputeBias(7, 9);
        using var dec = model.Decoder.ComputeBias(7, 9);
        Float32Tolerance.AssertClose(r["position_bias.encoder_7x9"], enc, 1, "encoder bias", log);
        Float32Tolerance.AssertClose(r["position_bias.decoder_7x9"], dec, 1, "decoder bias", log);
    }

    /// <summary>Every hidden state, attention map, the logits and the loss of one forward pass.</summary>
    internal static void CheckForward(Reference r, T5ForConditionalGeneration model, ITestOutputHelper? log)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var n = ReductionLength.Forward(model.Config);
        var ids = r["forward.input_ids"];
        var mask = r["forward.attention_mask"];
        var labels = r["forward.labels"];

        Assert.Equal(Reference.Longs(r["forward.decoder_input_ids"]), Reference.Longs(model.ShiftRight(labels)));

        using var encCollect = new Collectors();
        var encoded = model.Encode(ids, mask, encCollect);
        Float32Tolerance.AssertClose(r["forward.encoder_last_hidden_state"], encoded, n, "encoder_last_hidden_state", log);
        Assert.Equal(3, encCollect.HiddenStates.Count);
        for (var i = 0; i < 3; i++)
            Float32Tolerance.AssertClose(r[$"forward.encoder_hidden_states.{i}"], encCollect.HiddenStates[i], n, $"encoder_hidden_states.{i}", log);
        for (var i = 0; i < 2; i++)
            Float32Tolerance.AssertClose(r[$"forward.encoder_attentions.{i}"], encCollect.SelfAttentions[i], n, $"encoder_attentions.{i}", log);

        using var decCollect = new Collectors();
        var decoded = model.Decode(model.ShiftRight(labels), encoded, mask, collect: decCollect);
        for (var i = 0; i < 3; i++)
            Float32Tolerance.AssertClose(r[$"forward.decoder_hidden_states.{i}"], decCollect.HiddenStates[i], n, $"decoder_hidden_states.{i}", log);
        for (var i = 0; i < 2; i++)
        {
            Float32Tolerance.AssertClose(r[$"forward.decoder_attentions.{i}"], decCollect.SelfAttentions[i], n, $"decoder_attentions.{i}", log);
            Float32Tolerance.AssertClose(r[$"forward.cross_attentions.{i}"], decCollect.CrossAttentions[i], n, $"cross_attentions.{i}", log);
        }

        var logits = model.LmHead(decoded);
        Float32Tolerance.AssertClose(r["forward.logits"], logits, n, "logits", log);

        var (logits2, loss) = model.Forward(ids, mask, labels);
        Float32Tolerance.AssertClose(r["forward.logits"], logits2, n, "logits via Forward", log);
        Float32Tolerance.AssertClose(r["forward.loss"], loss.reshape(1), ReductionLength.ThroughVocabulary(model.Config), "loss", log);
    }
}
