using StepDistill.Student.Checkpoint;
using StepDistill.Student.Generation;
using StepDistill.Tests;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests.Parity;

/// <summary>The same model saved by torch.save (pytorch_model.bin) reproduces t5-tiny-v1_1's reference outputs.</summary>
public class PyTorchBinParityTests
{
    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void BinCheckpoint_ReproducesReferenceOutputs()
    {
        using var r = new Reference("t5-tiny-v1_1");
        var binDir = SharedData.Require("fixtures/t5/t5-tiny-v1_1-bin");
        using var model = T5Checkpoint.Load(binDir);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (logits, loss) = model.Forward(r["forward.input_ids"], r["forward.attention_mask"], r["forward.labels"]);
        Reference.AssertClose(r["forward.logits"], logits, 1e-4, 1e-5, "logits");
        Reference.AssertClose(r["forward.loss"], loss.reshape(1), 0, 1e-5, "loss");
        var greedy = T5Generator.Generate(model, r["forward.input_ids"], r["forward.attention_mask"], new GenerationOptions { MaxNewTokens = 12 });
        Assert.Equal(Reference.Longs(r["generate.greedy.sequences"]), greedy.Sequences.SelectMany(s => s));
    }

    [Trait("Category", "SharedData")]

    [SkippableFact]
    public void MaliciousPickle_IsRefused_AndNeverRuns()
    {
        var binDir = SharedData.Require("fixtures/t5/t5-tiny-v1_1-bin");
        var dir = Directory.CreateTempSubdirectory("stepdistill-bin-").FullName;
        try
        {
            foreach (var f in new[] { "config.json", "spiece.model" }) File.Copy(Path.Combine(binDir, f), Path.Combine(dir, f));
            File.Copy(Path.Combine(binDir, "malicious.bin"), Path.Combine(dir, T5Checkpoint.PyTorchBinFile));
            var output = new StringWriter();
            var previous = Console.Out;
            Console.SetOut(output);
            try
            {
                var e = Assert.Throws<StepDistillException>(() => T5Checkpoint.Load(dir));
                Assert.Contains("builtins", e.Message);
                Assert.Contains(T5Checkpoint.PyTorchBinFile, e.Message);
            }
            finally
            {
                Console.SetOut(previous);
            }
            Assert.DoesNotContain("UNSAFE-PICKLE-EXECUTED", output.ToString());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
