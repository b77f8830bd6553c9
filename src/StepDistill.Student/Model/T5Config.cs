using System.Text.Json;
using System.Text.Json.Nodes;

namespace StepDistill.Student.Model;

/// <summary>
/// A T5 configuration with Hugging Face's field names and defaults (transformers' <c>T5Config</c>).
/// v1.0 = <c>relu</c> feed-forward, tied embeddings; v1.1 / flan-t5 = <c>gated-gelu</c>, untied LM head.
/// </summary>
public sealed record T5Config
{
    /// <summary>The transformers version whose semantics we match and write into saved configs (parity fixtures use it).</summary>
    public const string TransformersVersion = "4.30.0";

    /// <summary>Vocabulary size (embedding rows).</summary>
    public int VocabSize { get; init; } = 32128;
    /// <summary>Hidden size.</summary>
    public int DModel { get; init; } = 512;
    /// <summary>Size of each attention head.</summary>
    public int DKv { get; init; } = 64;
    /// <summary>Feed-forward inner size.</summary>
    public int DFf { get; init; } = 2048;
    /// <summary>Encoder layers.</summary>
    public int NumLayers { get; init; } = 6;
    /// <summary>Decoder layers.</summary>
    public int NumDecoderLayers { get; init; } = 6;
    /// <summary>Attention heads.</summary>
    public int NumHeads { get; init; } = 8;
    /// <summary>Buckets of the relative position bias.</summary>
    public int RelativeAttentionNumBuckets { get; init; } = 32;
    /// <summary>Longest distance the relative position buckets distinguish.</summary>
    public int RelativeAttentionMaxDistance { get; init; } = 128;
    /// <summary>Dropout probability during training.</summary>
    public double DropoutRate { get; init; } = 0.1;
    /// <summary>Epsilon of the RMS layer norm.</summary>
    public double LayerNormEpsilon { get; init; } = 1e-6;
    /// <summary><c>relu</c>, <c>gated-gelu</c>, or any <c>[gated-]act</c> with act in relu, gelu, gelu_new.</summary>
    public string FeedForwardProj { get; init; } = "relu";
    /// <summary>Whether the output layer shares the input embedding (then the decoder output is scaled by d_model^-0.5).</summary>
    public bool TieWordEmbeddings { get; init; } = true;
    /// <summary>The padding id.</summary>
    public int PadTokenId { get; init; } = 0;
    /// <summary>The end-of-sequence id.</summary>
    public int EosTokenId { get; init; } = 1;
    /// <summary>The first decoder input id.</summary>
    public int DecoderStartTokenId { get; init; } = 0;
    /// <summary>Scale of the initial weights (from-scratch students).</summary>
    public double InitializerFactor { get; init; } = 1.0;

    /// <summary>Whether the feed-forward is gated (T5 v1.1, flan-t5).</summary>
    public bool IsGatedAct => FeedForwardProj.StartsWith("gated-", StringComparison.Ordinal);

    /// <summary>The activation function name as HF derives it (<c>gated-gelu</c> means <c>gelu_new</c>).</summary>
    public string DenseActFn
    {
        get
        {
            var act = IsGatedAct ? FeedForwardProj["gated-".Length..] : FeedForwardProj;
            return act == "gelu" && IsGatedAct ? "gelu_new" : act;
        }
    }

    /// <summary>Checks the values a model can be built from; throws naming <paramref name="source"/>.</summary>
    public void Validate(string source)
    {
        var act = DenseActFn;
        if (act is not ("relu" or "gelu" or "gelu_new"))
            throw new StepDistillException($"{source}: unsupported feed_forward_proj '{FeedForwardProj}' (supported: relu, gated-gelu, gelu, gated-relu)");
        foreach (var (key, value) in new[]
        {
            ("d_model", DModel), ("d_kv", DKv), ("d_ff", DFf), ("num_heads", NumHeads), ("num_layers", NumLayers),
            ("num_decoder_layers", NumDecoderLayers), ("vocab_size", VocabSize),
        })
            if (value <= 0) throw new StepDistillException($"{source}: {key} must be positive, got {value}");
        if (RelativeAttentionNumBuckets < 2 || RelativeAttentionMaxDistance < 2)
            throw new StepDistillException($"{source}: relative_attention_num_buckets and relative_attention_max_distance must be at least 2");
    }

    /// <summary>
    /// A lower bound on the number of weights this configuration has (embeddings, attention and feed-forward
    /// matrices), computed without allocating anything; <see cref="long.MaxValue"/> when it overflows.
    /// </summary>
    public long MinimumParameterCount()
    {
        try
        {
            checked
            {
                long d = DModel, inner = (long)NumHeads * DKv, ff = (IsGatedAct ? 3L : 2L) * d * DFf;
                long encoder = NumLayers * (4 * d * inner + ff);
                long decoder = NumDecoderLayers * (8 * d * inner + ff);
                return (long)VocabSize * d * (TieWordEmbeddings ? 1 : 2) + encoder + decoder;
            }
        }
        catch (OverflowException) { return long.MaxValue; }
    }

    /// <summary>Named sizes for students trained from scratch (no pretrained checkpoint).</summary>
    public static IReadOnlyDictionary<string, T5Config> Presets { get; } = new Dictionary<string, T5Config>(StringComparer.OrdinalIgnoreCase)
    {
        // A few CPU-minutes per run: the size the demo and the CPU benchmarks use.
        ["tiny"] = new()
        {
            DModel = 64, DKv = 16, NumHeads = 4, DFf = 256, NumLayers = 2, NumDecoderLayers = 2, FeedForwardProj = "relu",
            TieWordEmbeddings = true, DropoutRate = 0.0
        },
        ["mini"] = new()
        {
            DModel = 128, DKv = 32, NumHeads = 4, DFf = 512, NumLayers = 3, NumDecoderLayers = 3, FeedForwardProj = "relu",
            TieWordEmbeddings = true, DropoutRate = 0.1
        },
        // The "small" configuration of the Hugging Face CPU baseline (shared/notes/hf-baseline.md).
        ["small"] = new()
        {
            DModel = 256, DKv = 64, NumHeads = 4, DFf = 1024, NumLayers = 4, NumDecoderLayers = 4, FeedForwardProj = "gated-gelu",
            TieWordEmbeddings = false
        },
        // t5-small's shape in the v1.1 style (t5-small-like in the baseline).
        ["t5-small"] = new()
        {
            DModel = 512, DKv = 64, NumHeads = 8, DFf = 2048, NumLayers = 6, NumDecoderLayers = 6, FeedForwardProj = "gated-gelu",
            TieWordEmbeddings = false
        },
    };

    /// <summary>The <c>model_type</c> values accepted in config.json (mT5 has the T5 v1.1 architecture).</summary>
    public static IReadOnlyList<string> ModelTypes { get; } = ["t5", "mt5"];

    /// <summary>
    /// The one "is this a T5?" check: refuses a <c>model_type</c> outside <see cref="ModelTypes"/>;
    /// <paramref name="label"/> names the model in the message.
    /// </summary>
    internal static void CheckModelType(string? modelType, string configPath, string label)
    {
        if (modelType is null)
            throw new StepDistillException($"{configPath}: no \"model_type\"; cannot tell whether {label} is a T5 model");
        if (!ModelTypes.Contains(modelType))
            throw new StepDistillException(
                $"{label} is not a T5 model: its config.json has model_type \"{modelType}\" " +
                $"(stepdistill students are T5 encoder-decoders: model_type {string.Join(" or ", ModelTypes.Select(t => "\"" + t + "\""))}, " +
                "for example google/flan-t5-small or google/t5-v1_1-small)");
    }

    /// <summary>Reads a Hugging Face <c>config.json</c>; errors name the file and the key.</summary>
    public static T5Config Load(string configPath)
    {
        if (!File.Exists(configPath)) throw new StepDistillException($"{configPath}: file not found");
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject
                   ?? throw new StepDistillException($"{configPath}: expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new StepDistillException($"{configPath}: invalid JSON at line {e.LineNumber + 1}: {e.Message}");
        }
        // Typed reads that name the file and key: a hand-edited config must not end in a cast exception.
        StepDistillException Bad(string key, string what) =>
            new($"{configPath}: \"{key}\" must be {what}, got {json[key]!.ToJsonString()}");
        string? S(string key) => json[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue<string>(out var x) => x,
            _ => throw Bad(key, "a string"),
        };
        int I(string key, int def) => json[key] switch
        {
            null => def,
            JsonValue v when v.TryGetValue<int>(out var x) => x,
            JsonValue v when v.TryGetValue<double>(out var x) && x == Math.Floor(x) => throw Bad(key, $"an integer between {int.MinValue} and {int.MaxValue}"),
            _ => throw Bad(key, "an integer"),
        };
        double D(string key, double def) => json[key] switch
        {
            null => def,
            JsonValue v when v.TryGetValue<double>(out var x) => x,
            _ => throw Bad(key, "a number"),
        };
        bool B(string key, bool def) => json[key] switch
        {
            null => def,
            JsonValue v when v.TryGetValue<bool>(out var x) => x,
            _ => throw Bad(key, "true or false"),
        };
        var modelType = S("model_type");
        CheckModelType(modelType, configPath, Path.GetDirectoryName(configPath) is { Length: > 0 } folder ? folder : configPath);
        var d = new T5Config();
        var numLayers = I("num_layers", d.NumLayers);
        var config = new T5Config
        {
            VocabSize = I("vocab_size", d.VocabSize),
            DModel = I("d_model", d.DModel),
            DKv = I("d_kv", d.DKv),
            DFf = I("d_ff", d.DFf),
            NumLayers = numLayers,
            // HF: num_decoder_layers defaults to num_layers when absent or null.
            NumDecoderLayers = I("num_decoder_layers", numLayers),
            NumHeads = I("num_heads", d.NumHeads),
            RelativeAttentionNumBuckets = I("relative_attention_num_buckets", d.RelativeAttentionNumBuckets),
            RelativeAttentionMaxDistance = I("relative_attention_max_distance", d.RelativeAttentionMaxDistance),
            DropoutRate = D("dropout_rate", d.DropoutRate),
            LayerNormEpsilon = D("layer_norm_epsilon", d.LayerNormEpsilon),
            FeedForwardProj = S("feed_forward_proj") ?? d.FeedForwardProj,
            // HF omits keys equal to their defaults: an absent tie_word_embeddings means true.
            TieWordEmbeddings = B("tie_word_embeddings", true),
            PadTokenId = I("pad_token_id", d.PadTokenId),
            EosTokenId = I("eos_token_id", d.EosTokenId),
            DecoderStartTokenId = I("decoder_start_token_id", d.DecoderStartTokenId),
            InitializerFactor = D("initializer_factor", d.InitializerFactor),
        };
        config.Validate(configPath);
        return config;
    }

    /// <summary>The config.json Hugging Face's <c>T5ForConditionalGeneration.from_pretrained</c> reads.</summary>
    public JsonObject ToJson() => new()
    {
        ["architectures"] = new JsonArray("T5ForConditionalGeneration"),
        ["model_type"] = "t5",
        ["vocab_size"] = VocabSize,
        ["d_model"] = DModel,
        ["d_kv"] = DKv,
        ["d_ff"] = DFf,
        ["num_layers"] = NumLayers,
        ["num_decoder_layers"] = NumDecoderLayers,
        ["num_heads"] = NumHeads,
        ["relative_attention_num_buckets"] = RelativeAttentionNumBuckets,
        ["relative_attention_max_distance"] = RelativeAttentionMaxDistance,
        ["dropout_rate"] = DropoutRate,
        ["layer_norm_epsilon"] = LayerNormEpsilon,
        ["initializer_factor"] = InitializerFactor,
        ["feed_forward_proj"] = FeedForwardProj,
        ["dense_act_fn"] = DenseActFn,
        ["is_gated_act"] = IsGatedAct,
        ["tie_word_embeddings"] = TieWordEmbeddings,
        ["is_encoder_decoder"] = true,
        ["use_cache"] = true,
        ["pad_token_id"] = PadTokenId,
        ["eos_token_id"] = EosTokenId,
        ["decoder_start_token_id"] = DecoderStartTokenId,
        ["torch_dtype"] = "float32",
        ["transformers_version"] = TransformersVersion,
    };

    /// <summary>Writes this configuration as a Hugging Face <c>config.json</c>.</summary>
    public void Save(string configPath) =>
        FileOps.WriteAllText(configPath, ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
}
