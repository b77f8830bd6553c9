using System.Text.Json;
using System.Text.Json.Nodes;
using StepDistill.Student;
using StepDistill.Student.Checkpoint;
using StepDistill.Student.Model;
using StepDistill.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace StepDistill.Inference;

/// <summary>
/// What a trained checkpoint needs at inference, saved as <c>stepdistill.json</c> beside the HF files:
/// the prefix the label task was trained with (<c>predict: </c> for step-by-step, none for standard).
/// </summary>
/// <param name="Method">The training method's name (<c>standard</c> or <c>step-by-step</c>).</param>
/// <param name="Labels">Where the training labels came from (<c>gold</c> or <c>teacher</c>).</param>
/// <param name="InputPrefix">The prefix of the label task's inputs (<see cref="PredictPrefix"/> or empty).</param>
/// <param name="Metric">The dataset's metric name, when known.</param>
public sealed record StudentInfo(string Method, string Labels, string InputPrefix, string? Metric = null)
{
    /// <summary>The file name, in the checkpoint folder.</summary>
    public const string FileName = "stepdistill.json";

    /// <summary>Input prefix of the label task of step-by-step students.</summary>
    public const string PredictPrefix = "predict: ";

    /// <summary>Input prefix of the rationale task of step-by-step students.</summary>
    public const string ExplainPrefix = "explain: ";

    /// <summary>Whether the student was trained with a rationale task (so it can explain).</summary>
    public bool HasRationaleTask => InputPrefix == PredictPrefix;

    /// <summary>Reads <c>stepdistill.json</c> from <paramref name="directory"/>; null when the file is absent.</summary>
    /// <exception cref="StepDistillException">The file is malformed.</exception>
    public static StudentInfo? TryLoad(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            var j = JsonNode.Parse(File.ReadAllText(path))!;
            return new StudentInfo(j["method"]!.GetValue<string>(), j["labels"]!.GetValue<string>(),
                                   j["input_prefix"]!.GetValue<string>(), j["metric"]?.GetValue<string>());
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException)
        {
            throw new StepDistillException($"{path}: malformed ({e.Message})");
        }
    }

    /// <summary>Writes <c>stepdistill.json</c> into <paramref name="directory"/> (atomically).</summary>
    public void Save(string directory) => FileOps.WriteAllText(Path.Combine(directory, FileName), new JsonObject
    {
        ["method"] = Method, ["labels"] = Labels, ["input_prefix"] = InputPrefix, ["metric"] = Metric,
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
}

/// <summary>
/// A T5 student with its tokenizer: loaded from a checkpoint folder or built from scratch. Single-threaded: for
/// inference from many threads use <see cref="DistilledModel"/>.
/// </summary>
public sealed class T5Student : IDisposable
{
    /// <summary>The network.</summary>
    public T5ForConditionalGeneration Model { get; }
    /// <summary>The tokenizer the checkpoint was saved with.</summary>
    public ITextTokenizer Tokenizer { get; }
    /// <summary>True when loaded from a checkpoint folder, false when initialised from scratch.</summary>
    public bool Pretrained { get; }
    /// <summary>The checkpoint's <c>stepdistill.json</c>; null for a plain Hugging Face checkpoint or a new student.</summary>
    public StudentInfo? Info { get; }

    T5Student(T5ForConditionalGeneration model, ITextTokenizer tokenizer, bool pretrained, StudentInfo? info)
    {
        Model = model;
        Tokenizer = tokenizer;
        Pretrained = pretrained;
        Info = info;
    }

    /// <summary>Loads a checkpoint folder (HF format, with its tokenizer files).</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="device">Where the weights go (null: CPU).</param>
    /// <param name="dropout">Overrides the checkpoint's dropout rate (training only).</param>
    public static T5Student Load(string directory, Device? device = null, double? dropout = null)
    {
        var tokenizer = TokenizerLoader.Load(directory);
        var model = T5Checkpoint.Load(directory, device, c => dropout is null ? c : c with { DropoutRate = dropout.Value });
        if (tokenizer.VocabSize > model.Config.VocabSize)
        {
            model.Dispose();
            throw new StepDistillException($"{directory}: the tokenizer has {tokenizer.VocabSize} ids but the model's vocab_size is {model.Config.VocabSize}");
        }
        return new T5Student(model, tokenizer, pretrained: true, StudentInfo.TryLoad(directory));
    }

    /// <summary>
    /// <paramref name="model"/> is a checkpoint folder or a preset name (<see cref="T5Config.Presets"/>); a preset is
    /// initialised from <paramref name="seed"/> with HF's initialisation and <paramref name="tokenizer"/>
    /// (<c>byte</c> or a folder holding tokenizer files). A bare preset name is always the preset, even when the
    /// working folder holds a folder of that name (write <c>./tiny</c> for the folder): otherwise a leftover folder
    /// would silently replace a from-scratch student.
    /// </summary>
    /// <param name="model">A checkpoint folder or a preset name.</param>
    /// <param name="tokenizer"><c>byte</c>, or a folder holding tokenizer files (presets only).</param>
    /// <param name="seed">Seeds the initialisation of a preset.</param>
    /// <param name="device">Where the weights go.</param>
    /// <param name="dropout">Overrides the dropout rate (training only).</param>
    public static T5Student Create(string model, string tokenizer, int seed, Device device, double? dropout = null)
    {
        var isPreset = T5Config.Presets.TryGetValue(model, out var preset);
        if (!isPreset && Directory.Exists(model)) return Load(model, device, dropout);
        if (!isPreset || preset is null)
            throw StepDistillException.InvalidOption("Model", model, $"not a folder, and not a from-scratch size ({string.Join(", ", T5Config.Presets.Keys)})");
        ITextTokenizer tok = tokenizer.Equals("byte", StringComparison.OrdinalIgnoreCase) ? new ByteTokenizer() : TokenizerLoader.Load(tokenizer);
        var config = preset with { VocabSize = tok.VocabSize, DropoutRate = dropout ?? preset.DropoutRate };
        manual_seed(seed);
        var m = new T5ForConditionalGeneration(config);
        if (device.type != TorchSharp.DeviceType.CPU) m.to(device);
        return new T5Student(m, tok, pretrained: false, null);
    }

    /// <summary>Writes model, tokenizer and inference metadata as a checkpoint folder.</summary>
    /// <param name="directory">The folder to write.</param>
    /// <param name="info">The inference metadata to store as <c>stepdistill.json</c>.</param>
    public void Save(string directory, StudentInfo info)
    {
        T5Checkpoint.Save(Model, directory, Tokenizer);
        info.Save(directory);
    }

    /// <summary>Frees the model's tensors.</summary>
    public void Dispose() => Model.Dispose();
}
