using System.Text.Json;
using System.Text.Json.Nodes;
using StepDistill.Student.Model;
using StepDistill.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace StepDistill.Student.Checkpoint;

/// <summary>Loads and saves T5 checkpoints in the Hugging Face folder format.</summary>
public static class T5Checkpoint
{
    /// <summary>The model configuration file.</summary>
    public const string ConfigFile = "config.json";
    /// <summary>The weights in one safetensors file.</summary>
    public const string WeightsFile = "model.safetensors";
    /// <summary>The index of sharded safetensors weights.</summary>
    public const string WeightsIndexFile = "model.safetensors.index.json";
    /// <summary>The weights as a PyTorch pickle (read safely, never executed).</summary>
    public const string PyTorchBinFile = "pytorch_model.bin";
    /// <summary>The index of sharded PyTorch weights.</summary>
    public const string PyTorchBinIndexFile = "pytorch_model.bin.index.json";
    /// <summary>Generation defaults Hugging Face reads.</summary>
    public const string GenerationConfigFile = "generation_config.json";

    // Names HF writes or may write that are views of shared.weight (tied), or that HF itself ignores on load.
    static readonly HashSet<string> Aliases = new(StringComparer.Ordinal)
    {
        "encoder.embed_tokens.weight", "decoder.embed_tokens.weight",
        "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight",
    };

    /// <summary>
    /// Loads <c>config.json</c> and the weights of a checkpoint folder. Every parameter must be present with the
    /// right shape, and every tensor in the files must be used; otherwise nothing is returned and the error names
    /// the file and the tensor.
    /// </summary>
    public static T5ForConditionalGeneration Load(string directory, Device? device = null, Func<T5Config, T5Config>? configure = null)
    {
        if (!Directory.Exists(directory)) throw new StepDistillException($"{directory}: checkpoint folder not found");
        var config = T5Config.Load(Path.Combine(directory, ConfigFile));
        if (configure is not null) config = configure(config);
        var (tensors, sourceOf) = ReadStateDict(directory);
        // Before allocating: a config.json far larger than its weights (a typo, a wrong file) would otherwise ask
        // libtorch for gigabytes, or more than the machine has, before the shape check could say what is wrong.
        long have = tensors.Values.Sum(t => t.numel()), need = config.MinimumParameterCount();
        if (need > 2 * have + (1 << 20)) // small differences get the precise per-tensor message below
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw new StepDistillException(
                $"{Path.Combine(directory, ConfigFile)}: describes a model of at least {need:N0} weights (d_model {config.DModel}, d_ff {config.DFf}, " +
                $"layers {config.NumLayers}/{config.NumDecoderLayers}, heads {config.NumHeads}, vocab {config.VocabSize}) but the weights hold " +
                    $"{have:N0}; it does not match them");
        }
        var model = new T5ForConditionalGeneration(config);
        try
        {
            LoadStateDict(model, tensors, sourceOf);
            model.eval();
            if (device is not null && device.type != DeviceType.CPU) model.to(device);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Reads all weight tensors of a folder and, for error messages, the file each came from.</summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> SourceOf) ReadStateDict(string directory)
    {
        var single = Path.Combine(directory, WeightsFile);
        var index = Path.Combine(directory, WeightsIndexFile);
        var binIndex = Path.Combine(directory, PyTorchBinIndexFile);
        var files = new List<string>();
        if (File.Exists(single)) files.Add(single);
        else if (File.Exists(index)) files.AddRange(ShardFiles(index));
        else if (File.Exists(Path.Combine(directory, PyTorchBinFile))) files.Add(Path.Combine(directory, PyTorchBinFile));
        else if (File.Exists(binIndex)) files.AddRange(ShardFiles(binIndex));
        else
            throw new StepDistillException($"{directory}: no weights found (looked for {WeightsFile}, {WeightsIndexFile}, {PyTorchBinFile}, " +
                $"{PyTorchBinIndexFile})");

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var sourceOf = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            foreach (var file in files)
            {
                // PyTorch's zip/pickle format is read by a loader that refuses any pickle global other than
                // the ones torch uses to rebuild tensors, so a checkpoint cannot run code.
                var loaded = file.EndsWith(".safetensors", StringComparison.Ordinal) ? Safetensors.Load(file) : PyTorchBin.Load(file);
                foreach (var (name, t) in loaded)
                {
                    if (!tensors.TryAdd(name, t))
                    {
                        t.Dispose();
                        throw new StepDistillException($"{file}: tensor '{name}' also appears in {sourceOf[name]}");
                    }
                    sourceOf[name] = file;
                }
            }
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return (tensors, sourceOf);
    }

    static IEnumerable<string> ShardFiles(string indexPath)
    {
        var dir = Path.GetDirectoryName(indexPath)!;
        var shards = Hub.T5Files.ShardsOf(indexPath); // the one index reader (it also refuses unsafe shard names)
        foreach (var s in shards)
            if (!File.Exists(Path.Combine(dir, s))) throw new StepDistillException($"{Path.Combine(dir, s)}: shard listed in {indexPath} not found");
        return shards.Select(s => Path.Combine(dir, s));
    }

    /// <summary>Copies tensors into the model's parameters by name, checking names, shapes and dtypes first.</summary>
    public static void LoadStateDict(T5ForConditionalGeneration model, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string,
        string>? sourceOf = null)
    {
        string Src(string name) => sourceOf is not null && sourceOf.TryGetValue(name, out var f) ? f : "checkpoint";
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        var tied = model.Config.TieWordEmbeddings;
        foreach (var name in tensors.Keys)
        {
            if (parameters.ContainsKey(name) || Aliases.Contains(name) || (tied && name == "lm_head.weight")) continue;
            throw new StepDistillException($"{Src(name)}: unexpected tensor '{name}' (not a parameter of this T5 configuration; check config.json)");
        }
        foreach (var (name, p) in parameters)
        {
            if (!tensors.TryGetValue(name, out var t))
                throw new StepDistillException($"{(sourceOf?.Values.FirstOrDefault() ?? "checkpoint")}: missing tensor '{name}'");
            if (!t.shape.SequenceEqual(p.shape))
                throw new StepDistillException($"{Src(name)}: tensor '{name}' has shape [{string.Join(", ", t.shape)}], the model expects " +
                    $"[{string.Join(", ", p.shape)}] (check config.json)");
            if (!t.is_floating_point())
                throw new StepDistillException($"{Src(name)}: tensor '{name}' has dtype {t.dtype}, expected a floating-point type");
        }
        using var noGrad = no_grad();
        foreach (var (name, p) in parameters) p.copy_(tensors[name]);
    }

    /// <summary>
    /// Writes <c>config.json</c>, <c>generation_config.json</c> and <c>model.safetensors</c> (one name per tensor,
    /// tied aliases omitted, as HF's <c>save_pretrained</c> does), plus the tokenizer's files when given.
    /// Each file is replaced atomically.
    /// </summary>
    public static void Save(T5ForConditionalGeneration model, string directory, ITextTokenizer? tokenizer = null)
    {
        FileOps.CreateDirectory(directory);
        var tensors = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
        Safetensors.Save(Path.Combine(directory, WeightsFile), tensors);
        model.Config.Save(Path.Combine(directory, ConfigFile));
        var gen = new JsonObject
        {
            ["decoder_start_token_id"] = model.Config.DecoderStartTokenId,
            ["eos_token_id"] = model.Config.EosTokenId,
            ["pad_token_id"] = model.Config.PadTokenId,
            ["transformers_version"] = T5Config.TransformersVersion,
        };
        FileOps.WriteAllText(Path.Combine(directory, GenerationConfigFile), gen.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        tokenizer?.Save(directory);
    }
}
