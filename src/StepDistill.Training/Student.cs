using System.Text.Json;
using System.Text.Json.Nodes;
using StepDistill.Student;
using StepDistill.Student.Checkpoint;
using StepDistill.Student.Model;
using StepDistill.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace StepDistill.Training;

/// <summary>
/// What a trained checkpoint needs at inference, saved as <c>stepdistill.json</c> beside the HF files:
/// the prefix the label task was trained with (<c>predict: </c> for step-by-step, none for standard).
/// </summary>
public sealed record StudentInfo(string Method, string Labels, string InputPrefix, string? Metric = null)
{
    public const string FileName = "stepdistill.json";

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

    public void Save(string directory) => FileOps.WriteAllText(Path.Combine(directory, FileName), new JsonObject
    {
        ["method"] = Method, ["labels"] = Labels, ["input_prefix"] = InputPrefix, ["metric"] = Metric,
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
}

/// <summary>A T5 student with its tokenizer: loaded from a checkpoint folder or built from scratch.</summary>
public sealed class Student : IDisposable
{
    public T5ForConditionalGeneration Model { get; }
    public ITextTokenizer Tokenizer { get; }
    public bool Pretrained { get; }
    public StudentInfo? Info { get; }

    Student(T5ForConditionalGeneration model, ITextTokenizer tokenizer, bool pretrained, StudentInfo? info)
    {
        Model = model;
        Tokenizer = tokenizer;
        Pretrained = pretrained;
        Info = info;
    }

    /// <summary>Loads a checkpoint folder (HF format, with its tokenizer files).</summary>
    public static Student Load(string directory, Device? device = null, double? dropout = null)
    {
        var tokenizer = TokenizerLoader.Load(directory);
        var model = T5Checkpoint.Load(directory, device, c => dropout is null ? c : c with { DropoutRate = dropout.Value });
        if (tokenizer.VocabSize > model.Config.VocabSize)
        {
            model.Dispose();
            throw new StepDistillException($"{directory}: the tokenizer has {tokenizer.VocabSize} ids but the model's vocab_size is {model.Config.VocabSize}");
        }
        return new Student(model, tokenizer, pretrained: true, StudentInfo.TryLoad(directory));
    }

    /// <summary>
    /// <paramref name="model"/> is a checkpoint folder or a preset name (<see cref="T5Config.Presets"/>); a preset is
    /// initialised from <paramref name="seed"/> with HF's initialisation and <paramref name="tokenizer"/>
    /// (<c>byte</c> or a folder holding tokenizer files).
    /// </summary>
    public static Student Create(string model, string tokenizer, int seed, Device device, double? dropout = null)
    {
        if (Directory.Exists(model)) return Load(model, device, dropout);
        if (!T5Config.Presets.TryGetValue(model, out var preset))
            throw new StepDistillException($"--model {model}: not a folder, and not a from-scratch size ({string.Join(", ", T5Config.Presets.Keys)})");
        ITextTokenizer tok = tokenizer.Equals("byte", StringComparison.OrdinalIgnoreCase) ? new ByteTokenizer() : TokenizerLoader.Load(tokenizer);
        var config = preset with { VocabSize = tok.VocabSize, DropoutRate = dropout ?? preset.DropoutRate };
        manual_seed(seed);
        var m = new T5ForConditionalGeneration(config);
        if (device.type != TorchSharp.DeviceType.CPU) m.to(device);
        return new Student(m, tok, pretrained: false, null);
    }

    /// <summary>Writes model, tokenizer and inference metadata as a checkpoint folder.</summary>
    public void Save(string directory, StudentInfo info)
    {
        T5Checkpoint.Save(Model, directory, Tokenizer);
        info.Save(directory);
    }

    public void Dispose() => Model.Dispose();
}
