using StepDistill.Student.Checkpoint;

namespace StepDistill.Tests;

/// <summary>A checkpoint's weights as bytes, in key order: two runs are bit-identical when these are equal.</summary>
public static class CheckpointWeights
{
    /// <summary>Reads <c>model.safetensors</c> of <paramref name="checkpoint"/> (a folder).</summary>
    public static byte[][] Read(string checkpoint)
    {
        var t = Safetensors.Load(Path.Combine(checkpoint, T5Checkpoint.WeightsFile));
        var bytes = t.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value.bytes.ToArray()).ToArray();
        foreach (var v in t.Values) v.Dispose();
        return bytes;
    }
}
