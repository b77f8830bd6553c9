using StepDistill.Student.Model;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests.Parity;

/// <summary>Forward pass, relative-position buckets and position biases against Hugging Face transformers 4.30.</summary>
public class ForwardParityTests
{
    public static TheoryData<string> Checkpoints => new() { "t5-tiny-v1_0", "t5-tiny-v1_1" };

    [Trait("Category", "SharedData")]

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

    [Trait("Category", "SharedData")]

    [SkippableTheory]
    [MemberData(nameof(Checkpoints))]
    public void PositionBias_MatchesHuggingFace(string checkpoint)
    {
        using var r = new Reference(checkpoint);
        using var model = r.LoadModel();
        using var enc = model.Encoder.ComputeBias(7, 9);
        using var dec = model.Decoder.ComputeBias(7, 9);
        Reference.AssertClose(r["position_bias.encoder_7x9"], enc, 1e-6, 0, "encoder bias");
        Reference.AssertClose(r["position_bias.decoder_7x9"], dec, 1e-6, 0, "decoder bias");
    }

    [Trait("Category", "SharedData")]

    [SkippableTheory]
    [MemberData(nameof(Checkpoints))]
    public void Forward_HiddenStatesAttentionsLogitsAndLoss_MatchHuggingFace(string checkpoint)
    {
        using var r = new Reference(checkpoint);
        using var model = r.LoadModel();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ids = r["forward.input_ids"];
        var mask = r["forward.attention_mask"];
        var labels = r["forward.labels"];

        Assert.Equal(Reference.Longs(r["forward.decoder_input_ids"]), Reference.Longs(model.ShiftRight(labels)));

        using var encCollect = new Collectors();
        var encoded = model.Encode(ids, mask, encCollect);
        Reference.AssertClose(r["forward.encoder_last_hidden_state"], encoded, 1e-4, 1e-5, "encoder_last_hidden_state");
        Assert.Equal(3, encCollect.HiddenStates.Count);
        for (var i = 0; i < 3; i++)
            Reference.AssertClose(r[$"forward.encoder_hidden_states.{i}"], encCollect.HiddenStates[i], 1e-5, 1e-5, $"encoder_hidden_states.{i}");
        for (var i = 0; i < 2; i++)
            Reference.AssertClose(r[$"forward.encoder_attentions.{i}"], encCollect.SelfAttentions[i], 1e-5, 0, $"encoder_attentions.{i}");

        using var decCollect = new Collectors();
        var decoded = model.Decode(model.ShiftRight(labels), encoded, mask, collect: decCollect);
        for (var i = 0; i < 3; i++)
            Reference.AssertClose(r[$"forward.decoder_hidden_states.{i}"], decCollect.HiddenStates[i], 1e-5, 1e-5, $"decoder_hidden_states.{i}");
        for (var i = 0; i < 2; i++)
        {
            Reference.AssertClose(r[$"forward.decoder_attentions.{i}"], decCollect.SelfAttentions[i], 1e-5, 0, $"decoder_attentions.{i}");
            Reference.AssertClose(r[$"forward.cross_attentions.{i}"], decCollect.CrossAttentions[i], 1e-5, 0, $"cross_attentions.{i}");
        }

        var logits = model.LmHead(decoded);
        Reference.AssertClose(r["forward.logits"], logits, 1e-4, 1e-5, "logits");

        var (logits2, loss) = model.Forward(ids, mask, labels);
        Reference.AssertClose(r["forward.logits"], logits2, 1e-4, 1e-5, "logits via Forward");
        Reference.AssertClose(r["forward.loss"], loss.reshape(1), 0, 1e-5, "loss");
    }
}
