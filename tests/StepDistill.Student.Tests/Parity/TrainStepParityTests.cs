using StepDistill.Student.Model;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests.Parity;

/// <summary>Gradients and one AdamW step against Hugging Face + torch.optim.AdamW (eval mode, no dropout).</summary>
public class TrainStepParityTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("t5-tiny-v1_0")]
    [InlineData("t5-tiny-v1_1")]
    public void GradientsAndAdamWStep_MatchHuggingFace(string checkpoint)
    {
        using var r = new Reference(checkpoint);
        using var model = r.LoadModel();
        output.WriteLine(Float32Tolerance.CpuSetup());
        CheckTrainStep(r, model, output);
    }

    /// <summary>
    /// Loss, every gradient, one AdamW step and the loss after it. <paramref name="afterBackward"/> and
    /// <paramref name="lrFactor"/> let a planted-error test corrupt the gradients or the step.
    /// </summary>
    internal static void CheckTrainStep(Reference r, T5ForConditionalGeneration model, ITestOutputHelper? log,
                                        Action<T5ForConditionalGeneration>? afterBackward = null, double lrFactor = 1)
    {
        using var scope = NewDisposeScope();
        var n = ReductionLength.ThroughVocabulary(model.Config);
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        const double lr = 1e-3, adamEps = 1e-8;
        var optimizer = optim.AdamW(model.parameters(), lr: lr * lrFactor, beta1: 0.9, beta2: 0.999, eps: adamEps, weight_decay: 0.0, amsgrad: false);
        optimizer.zero_grad();
        var (_, loss) = model.Forward(r["forward.input_ids"], r["forward.attention_mask"], r["forward.labels"]);
        Float32Tolerance.AssertClose(r["train.loss_before"], loss.reshape(1), n, "loss_before", log);
        loss.backward();
        afterBackward?.Invoke(model);

        // Every parameter's gradient norm (HF lists tied tensors once, under shared.weight). By the triangle
        // inequality |‖a‖ − ‖e‖| ≤ ‖a − e‖, so the normwise bound applies to the norms themselves.
        var norms = r.Json["train_step"]!["grad_l2_norm_all"]!.AsObject();
        Assert.Equal(norms.Count, parameters.Count);
        foreach (var (name, expected) in norms)
        {
            Assert.True(parameters.ContainsKey(name), $"model has no parameter {name}");
            var actual = parameters[name].grad!.to(ScalarType.Float64).norm().item<double>();
            Float32Tolerance.AssertClose(expected!.GetValue<double>(), actual, n, $"grad norm of {name}", log);
        }
        foreach (var name in r.Tensors.Keys.Where(k => k.StartsWith("train.grad.", StringComparison.Ordinal)))
        {
            var param = name["train.grad.".Length..];
            Float32Tolerance.AssertClose(r[name], parameters[param].grad!, n, $"grad of {param}", log);
        }
        var rows = r["train.grad_rows.shared.weight.row_ids"];
        Float32Tolerance.AssertClose(r["train.grad_rows.shared.weight"], parameters["shared.weight"].grad!.index_select(0, rows), n, "shared.weight grad rows", log);

        // Parameters after the step: p − update is elementwise (n = 1: one rounding), plus what the gradient's own
        // uncertainty does to Adam's update (AdamWStepAllowance), computed from HF's gradient of the same tensor.
        optimizer.step();
        foreach (var name in r.Tensors.Keys.Where(k => k.StartsWith("train.param_after.", StringComparison.Ordinal) && !k.EndsWith(".rows", StringComparison.Ordinal)))
        {
            var param = name["train.param_after.".Length..];
            Float32Tolerance.AssertClose(r[name], parameters[param], 1, $"{param} after step", log,
                Float32Tolerance.AdamWStepAllowance(r[$"train.grad.{param}"], lr, adamEps, n));
        }
        Float32Tolerance.AssertClose(r["train.param_after.shared.weight.rows"], parameters["shared.weight"].index_select(0, rows), 1, "shared.weight rows after step", log,
            Float32Tolerance.AdamWStepAllowance(r["train.grad_rows.shared.weight"], lr, adamEps, n));

        using var noGrad = no_grad();
        var (_, after) = model.Forward(r["forward.input_ids"], r["forward.attention_mask"], r["forward.labels"]);
        Float32Tolerance.AssertClose(r["train.loss_after"], after.reshape(1), n, "loss_after", log);
    }
}
