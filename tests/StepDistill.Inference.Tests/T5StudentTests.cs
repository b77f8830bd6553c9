using StepDistill.Student.Model;
using static TorchSharp.torch;

namespace StepDistill.Inference.Tests;

public class T5StudentTests
{
    [Fact]
    public void APresetName_IsThePreset_EvenBesideAFolderOfThatName()
    {
        // A leftover folder named like a preset in the working folder once replaced the demo's from-scratch students.
        var shadow = Path.GetFullPath("tiny");
        var made = !Directory.Exists(shadow);
        Directory.CreateDirectory(shadow); // empty: loading it as a checkpoint would fail
        try
        {
            using var s = T5Student.Create("tiny", "byte", seed: 1, CPU);
            Assert.False(s.Pretrained);
            Assert.Equal(T5Config.Presets["tiny"].DModel, s.Model.Config.DModel);
            // The folder is still reachable as a path.
            Assert.ThrowsAny<Exception>(() => T5Student.Create("./tiny", "byte", seed: 1, CPU));
        }
        finally
        {
            if (made) Directory.Delete(shadow);
        }
    }
}
