using System.Text;
using StepDistill.Student.Hub;

namespace StepDistill.Student.Tests.Hub;

/// <summary>Synthetic model repositories (no shared fixtures needed) and a temp cache per test.</summary>
public static class HubTestData
{
    public const string Main = "1111111111111111111111111111111111111111";
    public const string Old = "0000000000000000000000000000000000000abc";

    public static byte[] Text(string s) => Encoding.UTF8.GetBytes(s);

    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static Dictionary<string, byte[]> T5Files(int seed, string modelType = "t5", int dModel = 8) => new()
    {
        ["config.json"] = Text($$"""{"architectures": ["T5ForConditionalGeneration"], "model_type": "{{modelType}}", "d_model": {{dModel}}}"""),
        ["generation_config.json"] = Text("""{"decoder_start_token_id": 0, "eos_token_id": 1, "pad_token_id": 0}"""),
        ["tokenizer_config.json"] = Text("""{"model_max_length": 512}"""),
        ["special_tokens_map.json"] = Text("""{"eos_token": "</s>"}"""),
        ["spiece.model"] = Random(40_000, seed + 1),
        ["model.safetensors"] = Random(300_000, seed + 2),
        // Present in real repositories but not needed by a PyTorch T5: must not be downloaded.
        ["README.md"] = Text("# a model card"),
        ["flax_model.msgpack"] = Random(1000, seed + 3),
        [".gitattributes"] = Text("*.safetensors filter=lfs"),
    };

    /// <summary><c>test-org/tiny-t5</c>: main (also tag v1) and an older commit (tag v0) with other files.</summary>
    public static FakeRepo TinyT5() => new FakeRepo("test-org/tiny-t5")
        .Commit(Main, T5Files(10), "main", "v1")
        .Commit(Old, T5Files(20, dModel: 4), "v0");

    public static FakeRepo Bert() => new FakeRepo("test-org/tiny-bert").Commit(Main, new()
    {
        ["config.json"] = Text("""{"architectures": ["BertModel"], "model_type": "bert"}"""),
        ["model.safetensors"] = Random(5000, 7),
        ["tokenizer.json"] = Text("{}"),
    }, "main");

    public static FakeRepo Gated(string token) => new FakeRepo("test-org/gated-t5") { RequiredToken = token }
        .Commit(Main, T5Files(30), "main");

    public static FakeRepo Sharded()
    {
        var files = T5Files(40);
        files.Remove("model.safetensors");
        files["model-00001-of-00002.safetensors"] = Random(70_000, 41);
        files["model-00002-of-00002.safetensors"] = Random(50_000, 42);
        files["model.safetensors.index.json"] = Text("""
            {"metadata": {"total_size": 120000}, "weight_map": {
              "shared.weight": "model-00001-of-00002.safetensors",
              "encoder.final_layer_norm.weight": "model-00002-of-00002.safetensors",
              "lm_head.weight": "model-00001-of-00002.safetensors"}}
            """);
        return new FakeRepo("test-org/sharded-t5").Commit(Main, files, "main");
    }

    public static FakeRepo BinOnly()
    {
        var files = T5Files(50);
        files.Remove("model.safetensors");
        files["pytorch_model.bin"] = Random(60_000, 51);
        files["tf_model.h5"] = Random(1000, 52);
        return new FakeRepo("test-org/bin-t5").Commit(Main, files, "main");
    }

    public static HubOptions Options(string endpoint, string cacheDir, string? token = null, bool offline = false,
        int maxRetries = 2) =>
        new(_ => null)
        {
            Endpoint = endpoint,
            CacheDir = cacheDir,
            Token = token,
            Offline = offline,
            MaxRetries = maxRetries,
            RequestTimeout = TimeSpan.FromSeconds(20),
        };
}

/// <summary>Collects progress reports synchronously.</summary>
public sealed class ProgressLog : IProgress<HubDownloadProgress>
{
    public List<HubDownloadProgress> Reports { get; } = [];
    public void Report(HubDownloadProgress value) { lock (Reports) Reports.Add(value); }
}
