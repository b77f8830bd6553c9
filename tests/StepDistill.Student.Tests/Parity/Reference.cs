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

    /// <summary>The checkpoint; <paramref name="configure"/> may change its config (planted-error tests).</summary>
    public T5ForConditionalGeneration LoadModel(Func<T5Config, T5Config>? configure = null) => T5Checkpoint.Load(Folder, configure: configure);

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }

    public static long[] Longs(Tensor t) => t.to(ScalarType.Int64).cpu().data<long>().ToArray();
}
