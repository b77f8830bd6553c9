using System.Text.Json.Nodes;
using StepDistill.Student.Checkpoint;
using StepDistill.Student.Model;
using static TorchSharp.torch;

namespace StepDistill.Student.Tests.Checkpoint;

/// <summary>Checkpoint reading and writing on models built here: no shared fixtures needed.</summary>
public sealed class CheckpointIoTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("stepdistill-ckpt-").FullName;

    static readonly T5Config Tiny = T5Config.Presets["tiny"] with
    {
        VocabSize = 50,
        NumDecoderLayers = 3,
        RelativeAttentionNumBuckets = 8,
        RelativeAttentionMaxDistance = 20
    };

    public void Dispose() => Directory.Delete(dir, true);

    string Saved(T5Config config, string name = "model")
    {
        var path = Path.Combine(dir, name);
        using var model = new T5ForConditionalGeneration(config);
        T5Checkpoint.Save(model, path);
        return path;
    }

    static void AssertSameWeights(T5ForConditionalGeneration a, T5ForConditionalGeneration b)
    {
        var pb = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in a.named_parameters())
            Assert.True(p.bytes.SequenceEqual(pb[name].bytes), $"{name} differs");
    }

    static void RewriteTensors(string file, Action<Dictionary<string, Tensor>> change)
    {
        var tensors = Safetensors.Load(file);
        change(tensors);
        Safetensors.Save(file, tensors);
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Theory]
    [InlineData("relu", true)]
    [InlineData("gated-gelu", false)]
    public void SaveLoad_RoundTripsBitIdentical_ForBothVariants(string ff, bool tied)
    {
        var config = Tiny with { FeedForwardProj = ff, TieWordEmbeddings = tied };
        using var model = new T5ForConditionalGeneration(config);
        var path = Path.Combine(dir, "rt");
        T5Checkpoint.Save(model, path);
        using var loaded = T5Checkpoint.Load(path);
        Assert.Equal(config, loaded.Config);
        AssertSameWeights(model, loaded);
        Assert.Equal(tied, !loaded.named_parameters().Any(p => p.name == "lm_head.weight"));
        Assert.Equal(3, loaded.Decoder.Layers);
        Assert.Equal(2, loaded.Encoder.Layers);
        // Tied v1.0 output uses shared.weight scaled by d_model^-0.5, so logits differ from an untied head.
        using var ids = tensor(new long[] { 5, 6, 1 }).unsqueeze(0);
        using var mask = ones_like(ids);
        using var labels = tensor(new long[] { 7, 1 }).unsqueeze(0);
        var (l1, loss1) = model.Forward(ids, mask, labels);
        var (l2, loss2) = loaded.Forward(ids, mask, labels);
        Assert.Equal(loss1.item<float>(), loss2.item<float>());
    }

    [Fact]
    public void ShardedCheckpoint_LoadsFromIndex()
    {
        var path = Saved(Tiny);
        using var original = T5Checkpoint.Load(path);
        var single = Path.Combine(path, T5Checkpoint.WeightsFile);
        var all = Safetensors.Load(single);
        var names = all.Keys.Order(StringComparer.Ordinal).ToList();
        var half = names.Count / 2;
        Safetensors.Save(Path.Combine(path, "model-00001-of-00002.safetensors"), names.Take(half).ToDictionary(n => n, n => all[n]));
        Safetensors.Save(Path.Combine(path, "model-00002-of-00002.safetensors"), names.Skip(half).ToDictionary(n => n, n => all[n]));
        var map = new JsonObject();
        for (var i = 0; i < names.Count; i++) map[names[i]] = i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        File.WriteAllText(Path.Combine(path, T5Checkpoint.WeightsIndexFile), new JsonObject
        {
            ["metadata"] = new JsonObject(),
            ["weight_map"] = map
        }.ToJsonString());
        File.Delete(single);
        foreach (var t in all.Values) t.Dispose();
        using var sharded = T5Checkpoint.Load(path);
        AssertSameWeights(original, sharded);
    }

    [Fact]
    public void Config_DefaultsFollowHuggingFace()
    {
        var path = Saved(Tiny);
        var cfg = Path.Combine(path, T5Checkpoint.ConfigFile);
        var json = JsonNode.Parse(File.ReadAllText(cfg))!.AsObject();
        json.Remove("tie_word_embeddings"); // HF omits defaults: absent means tied
        json.Remove("num_decoder_layers");  // absent means num_layers
        File.WriteAllText(cfg, json.ToJsonString());
        var c = T5Config.Load(cfg);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(c.NumLayers, c.NumDecoderLayers);
        Assert.Equal("gelu_new", (Tiny with { FeedForwardProj = "gated-gelu" }).DenseActFn);
    }

    static string ErrorOf(Action a) => Assert.Throws<StepDistillException>(a).Message;

    [Fact]
    public void BadInput_FailsWithFileAndTensorNamed()
    {
        // Missing folder and missing config.
        Assert.Contains("not found", ErrorOf(() => T5Checkpoint.Load(Path.Combine(dir, "nope"))));
        var path = Saved(Tiny, "m1");
        File.Delete(Path.Combine(path, T5Checkpoint.ConfigFile));
        Assert.Contains("config.json", ErrorOf(() => T5Checkpoint.Load(path)));

        // Unknown model_type and activation.
        path = Saved(Tiny, "m2");
        var cfg = Path.Combine(path, T5Checkpoint.ConfigFile);
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"model_type\": \"t5\"", "\"model_type\": \"bert\""));
        var msg = ErrorOf(() => T5Checkpoint.Load(path));
        Assert.Contains("bert", msg);
        Assert.Contains("config.json", msg);
        path = Saved(Tiny, "m3");
        cfg = Path.Combine(path, T5Checkpoint.ConfigFile);
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"feed_forward_proj\": \"relu\"", "\"feed_forward_proj\": \"gated-swish\""));
        Assert.Contains("gated-swish", ErrorOf(() => T5Checkpoint.Load(path)));

        // No weights at all.
        path = Saved(Tiny, "m4");
        File.Delete(Path.Combine(path, T5Checkpoint.WeightsFile));
        Assert.Contains(T5Checkpoint.WeightsFile, ErrorOf(() => T5Checkpoint.Load(path)));

        // Shape mismatch: config says a bigger d_ff than the weights have.
        path = Saved(Tiny, "m5");
        cfg = Path.Combine(path, T5Checkpoint.ConfigFile);
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"d_ff\": 256", "\"d_ff\": 128"));
        msg = ErrorOf(() => T5Checkpoint.Load(path));
        Assert.Contains("DenseReluDense.wi.weight", msg);
        Assert.Contains("model.safetensors", msg);

        // Wrong dtype, missing tensor, unexpected tensor.
        path = Saved(Tiny, "m6");
        var weights = Path.Combine(path, T5Checkpoint.WeightsFile);
        RewriteTensors(weights, t =>
        {
            var old = t["encoder.final_layer_norm.weight"];
            t["encoder.final_layer_norm.weight"] = old.to(ScalarType.Int64);
            old.Dispose();
        });
        msg = ErrorOf(() => T5Checkpoint.Load(path));
        Assert.Contains("encoder.final_layer_norm.weight", msg);
        Assert.Contains("dtype", msg);

        path = Saved(Tiny, "m7");
        weights = Path.Combine(path, T5Checkpoint.WeightsFile);
        RewriteTensors(weights, t =>
        {
            t["decoder.block.2.layer.1.EncDecAttention.k.weight"].Dispose();
            t.Remove("decoder.block.2.layer.1.EncDecAttention.k.weight");
        });
        Assert.Contains("missing tensor 'decoder.block.2.layer.1.EncDecAttention.k.weight'", ErrorOf(() => T5Checkpoint.Load(path)));

        path = Saved(Tiny, "m8");
        weights = Path.Combine(path, T5Checkpoint.WeightsFile);
        RewriteTensors(weights, t => t["encoder.block.9.layer.0.SelfAttention.q.weight"] = zeros(4, 4));
        msg = ErrorOf(() => T5Checkpoint.Load(path));
        Assert.Contains("unexpected tensor 'encoder.block.9.layer.0.SelfAttention.q.weight'", msg);

        // A truncated file.
        path = Saved(Tiny, "m9");
        weights = Path.Combine(path, T5Checkpoint.WeightsFile);
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
        Assert.Contains(weights, ErrorOf(() => T5Checkpoint.Load(path)));
    }

    [Fact]
    public void AliasNames_WrittenByOtherTools_AreAccepted()
    {
        var path = Saved(Tiny);
        var weights = Path.Combine(path, T5Checkpoint.WeightsFile);
        RewriteTensors(weights, t =>
        {
            t["encoder.embed_tokens.weight"] = t["shared.weight"].clone();
            t["decoder.embed_tokens.weight"] = t["shared.weight"].clone();
            t["lm_head.weight"] = t["shared.weight"].clone(); // tied model: lm_head is shared.weight
        });
        using var loaded = T5Checkpoint.Load(path);
        Assert.Equal(Tiny, loaded.Config);
    }
}
