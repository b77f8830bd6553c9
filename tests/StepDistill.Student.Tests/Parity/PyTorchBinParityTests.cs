using StepDistill.Student.Checkpoint;
using StepDistill.Tests;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests.Parity;

/// <summary>The same model saved by torch.save (pytorch_model.bin) reproduces t5-tiny-v1_1's reference outputs.</summary>
[Collection("generator hooks")]
public class PyTorchBinParityTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void BinCheckpoint_ReproducesReferenceOutputs()
    {
        using var r = new Reference("t5-tiny-v1_1");
        var binDir = SharedData.Require("fixtures/t5/t5-tiny-v1_1-bin");
        using var model = T5Checkpoint.Load(binDir);
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            var (logits, loss) = model.Forward(r["forward.input_ids"], r["forward.attention_mask"], r["forward.labels"]);
            Float32Tolerance.AssertClose(r["forward.logits"], logits, ReductionLength.Forward(model.Config), "logits", output);
            Float32Tolerance.AssertClose(r["forward.loss"], loss.reshape(1), ReductionLength.ThroughVocabulary(model.Config), "loss", output);
        }
        GenerationParityTests.CheckGreedy(r, model, output);
    }

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
