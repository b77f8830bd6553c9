using StepDistill.Student.Model;
using TorchSharp;
using Xunit.Abstractions;
using Xunit.Sdk;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests.Parity;

/// <summary>
/// The parity checks must still fail on errors of realistic size (issue 12): each case plants one error from the
/// test side (weights, config or gradients changed; nothing in the product) and runs the same check the parity
/// test runs, which must throw. The message it gives is written to the test output.
/// </summary>
[Collection("generator hooks")]
public class PlantedErrorTests(ITestOutputHelper output)
{
    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var checkpoint in new[] { "t5-tiny-v1_0", "t5-tiny-v1_1" })
        {
            data.Add(checkpoint, "gradient ×1.001", "train step");
            data.Add(checkpoint, "AdamW step ×1.01", "train step");
            data.Add(checkpoint, "attention scores ×2", "forward");
            data.Add(checkpoint, "attention scores ×2", "greedy");
            data.Add(checkpoint, "attention scores ×1/√d_kv", "forward");
            data.Add(checkpoint, "relative-position bucket +1", "position bias");
            data.Add(checkpoint, "relative-position bucket +1", "forward");
            data.Add(checkpoint, "r = 0 in the r > 0 half", "forward");
            data.Add(checkpoint, "relative_attention_max_distance 128 → 64", "forward");
            data.Add(checkpoint, "layer_norm_epsilon 1e-6 → 1e-5", "forward");
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void PlantedError_FailsTheParityCheck(string checkpoint, string error, string check)
    {
        using var r = new Reference(checkpoint);
        using var model = r.LoadModel(error switch
        {
            "layer_norm_epsilon 1e-6 → 1e-5" => c => c with { LayerNormEpsilon = c.LayerNormEpsilon * 10 },
            // Distances 11, 14, 15 and 18..29 of the 30-token inputs land one logarithmic bucket higher.
            "relative_attention_max_distance 128 → 64" => c => c with { RelativeAttentionMaxDistance = c.RelativeAttentionMaxDistance / 2 },
            _ => null,
        });
        var parameters = model.named_parameters().ToList();
        using (no_grad())
        {
            switch (error)
            {
                case "attention scores ×2": // q·kᵀ doubles with q (every attention: self and cross, encoder and decoder)
                    foreach (var (_, p) in parameters.Where(p => p.name.EndsWith(".q.weight", StringComparison.Ordinal))) p.mul_(2);
                    break;
                case "attention scores ×1/√d_kv": // the scaling T5 does not have but other transformers do
                    foreach (var (_, p) in parameters.Where(p => p.name.EndsWith(".q.weight", StringComparison.Ordinal))) p.mul_(1 / Math.Sqrt(model.Config.DKv));
                    break;
                case "relative-position bucket +1": // every bucket index one too high: bias row b gets row b+1's values
                    foreach (var (_, p) in parameters.Where(p => p.name.EndsWith("relative_attention_bias.weight", StringComparison.Ordinal)))
                        p.copy_(p.roll(-1, 0));
                    break;
                case "r = 0 in the r > 0 half": // `r >= 0` for `r > 0` in the bidirectional bucket: the diagonal uses bucket 16, not 0
                    foreach (var (_, p) in parameters.Where(p => p.name.StartsWith("encoder.", StringComparison.Ordinal) && p.name.EndsWith("relative_attention_bias.weight", StringComparison.Ordinal)))
                        p[0].copy_(p[model.Config.RelativeAttentionNumBuckets / 2]);
                    break;
            }
        }
        Action run = check switch
        {
            "train step" => () => TrainStepParityTests.CheckTrainStep(r, model, null,
                afterBackward: error == "gradient ×1.001" ? ScaleGradients(1.001) : null, lrFactor: error == "AdamW step ×1.01" ? 1.01 : 1),
            "forward" => () => ForwardParityTests.CheckForward(r, model, null),
            "position bias" => () => ForwardParityTests.CheckPositionBias(r, model, null),
            "greedy" => () => GenerationParityTests.CheckGreedy(r, model, null),
            _ => throw new ArgumentException(check),
        };
        var failure = Assert.ThrowsAny<XunitException>(run);
        output.WriteLine($"{checkpoint}, {error}, {check} check fails: {failure.Message}");
    }

    static Action<T5ForConditionalGeneration> ScaleGradients(double factor) => model =>
    {
        using var noGrad = no_grad();
        foreach (var p in model.parameters()) p.grad?.mul_(factor);
    };
}
