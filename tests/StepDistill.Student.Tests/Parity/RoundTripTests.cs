using StepDistill.Student.Checkpoint;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests.Parity;

public class RoundTripTests
{
    [Trait("Category", "SharedData")]
    [SkippableTheory]
    [InlineData("t5-tiny-v1_0")]
    [InlineData("t5-tiny-v1_1")]
    public void SaveThenLoad_IsBitIdentical_AndWritesHuggingFaceNames(string checkpoint)
    {
        using var r = new Reference(checkpoint);
        using var model = r.LoadModel();
        var dir = Directory.CreateTempSubdirectory("stepdistill-rt-").FullName;
        try
        {
            T5Checkpoint.Save(model, dir);
            // Same tensor names as HF's own save_pretrained wrote (tied aliases omitted).
            var expectedKeys = r.Json["weights"]!["model_safetensors_keys"]!.AsArray().Select(k => k!.GetValue<string>()).Order(StringComparer.Ordinal);
            var (entries, _) = Safetensors.ReadHeader(Path.Combine(dir, T5Checkpoint.WeightsFile));
            Assert.Equal(expectedKeys, entries.Select(e => e.Name).Order(StringComparer.Ordinal));

            using var original = new DisposableDict(Safetensors.Load(Path.Combine(r.Folder, T5Checkpoint.WeightsFile)));
            using var reloaded = T5Checkpoint.Load(dir);
            foreach (var (name, p) in reloaded.named_parameters())
                Assert.True(original.Map[name].bytes.SequenceEqual(p.bytes), $"{name} differs after save and reload");
            Assert.Equal(model.Config, reloaded.Config);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    sealed class DisposableDict(Dictionary<string, Tensor> map) : IDisposable
    {
        public Dictionary<string, Tensor> Map { get; } = map;
        public void Dispose() { foreach (var t in Map.Values) t.Dispose(); }
    }
}
