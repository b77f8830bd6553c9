using StepDistill.Student.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests.Parity;

/// <summary>Gradients and one AdamW step against Hugging Face + torch.optim.AdamW (eval mode, no dropout).</summary>
public class TrainStepParityTests
{
    [Trait("Category", "SharedData")]
    [SkippableTheory]
    [InlineData("t5-tiny-v1_0")]
    [InlineData("t5-tiny-v1_1")]
    public void GradientsAndAdamWStep_MatchHuggingFace(string checkpoint)
    {
        using var r = new Reference(checkpoint);
        using var model = r.LoadModel();
        using var scope = NewDisposeScope();
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var optimizer = optim.AdamW(model.parameters(), lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, amsgrad: false);
        optimizer.zero_grad();
        var (_, loss) = model.Forward(r["forward.input_ids"], r["forward.attention_mask"], r["forward.labels"]);
        Reference.AssertClose(r["train.loss_before"], loss.reshape(1), 0, 1e-5, "loss_before");
        loss.backward();

        // Every parameter's gradient norm (HF lists tied tensors once, under shared.weight).
        var norms = r.Json["train_step"]!["grad_l2_norm_all"]!.AsObject();
        Assert.Equal(norms.Count, parameters.Count);
        foreach (var (name, expected) in norms)
        {
            Assert.True(parameters.ContainsKey(name), $"model has no parameter {name}");
            var actual = parameters[name].grad!.to(ScalarType.Float64).norm().item<double>();
            var e = expected!.GetValue<double>();
            Assert.True(Math.Abs(actual - e) <= 1e-4 * Math.Abs(e) + 1e-7, $"grad norm of {name}: {actual} vs HF {e}");
        }
        foreach (var name in r.Tensors.Keys.Where(k => k.StartsWith("train.grad.", StringComparison.Ordinal)))
        {
            var param = name["train.grad.".Length..];
            Reference.AssertClose(r[name], parameters[param].grad!, 1e-6, 1e-4, $"grad of {param}");
        }
        var rows = r["train.grad_rows.shared.weight.row_ids"];
        Reference.AssertClose(r["train.grad_rows.shared.weight"], parameters["shared.weight"].grad!.index_select(0, rows), 1e-6, 1e-4, "shared.weight grad rows");

        optimizer.step();
        foreach (var name in r.Tensors.Keys.Where(k => k.StartsWith("train.param_after.", StringComparison.Ordinal) && !k.EndsWith(".rows", StringComparison.Ordinal)))
        {
            var param = name["train.param_after.".Length..];
            Reference.AssertClose(r[name], parameters[param], 1e-6, 1e-4, $"{param} after step");
        }
        Reference.AssertClose(r["train.param_after.shared.weight.rows"], parameters["shared.weight"].index_select(0, rows), 1e-6, 1e-4, "shared.weight rows after step");

        using var noGrad = no_grad();
        var (_, after) = model.Forward(r["forward.input_ids"], r["forward.attention_mask"], r["forward.labels"]);
        Reference.AssertClose(r["train.loss_after"], after.reshape(1), 0, 1e-5, "loss_after");
    }
}
