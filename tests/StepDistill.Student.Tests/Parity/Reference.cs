using System.Text.Json.Nodes;
using StepDistill.Student.Checkpoint;
using StepDistill.Student.Model;
using StepDistill.Tests;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests.Parity;

/// <summary>One shared T5 fixture folder: the checkpoint plus the Hugging Face reference outputs.</summary>
public sealed class Reference : IDisposable
{
    public string Folder { get; }
    public Dictionary<string, Tensor> Tensors { get; }
    public JsonObject Json { get; }

    public Reference(string name)
    {
        Folder = SharedData.Require($"fixtures/t5/{name}");
        Tensors = Safetensors.Load(Path.Combine(Folder, "reference.safetensors"));
        Json = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "reference.json")))!;
    }

    public Tensor this[string name] => Tensors[name];

    public T5ForConditionalGeneration LoadModel() => T5Checkpoint.Load(Folder);

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }

    /// <summary>Asserts max |a-b| ≤ atol + rtol·|b| elementwise, reporting the worst element.</summary>
    public static void AssertClose(Tensor expected, Tensor actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        var e = expected.to(ScalarType.Float64);
        var a = actual.detach().cpu().to(ScalarType.Float64);
        var diff = (a - e).abs();
        var allowed = e.abs() * rtol + atol;
        var worst = (diff - allowed).max().item<double>();
        Assert.True(worst <= 0, $"{what}: max abs diff {diff.max().item<double>():G4} exceeds atol {atol} + rtol {rtol}·|expected|");
    }

    public static long[] Longs(Tensor t) => t.to(ScalarType.Int64).cpu().data<long>().ToArray();
}
