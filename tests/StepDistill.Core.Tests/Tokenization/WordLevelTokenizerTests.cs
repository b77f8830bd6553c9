using System.Text.Json.Nodes;
using StepDistill.Tokenization;

namespace StepDistill.Core.Tests.Tokenization;

/// <summary>Needs no shared files.</summary>
public sealed class WordLevelTokenizerTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "stepdistill-wordlevel-" + Guid.NewGuid().ToString("N"));

    public WordLevelTokenizerTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static WordLevelTokenizer Sample() => WordLevelTokenizer.Build(
        ["How many legs in total: spider, cat, hen?", "A spider has 8 legs, a cat has 4 legs. 8 + 4 = 12.", "cat cat"],
        ["predict", "explain"]);

    [Fact]
    public void Specials_then_extras_then_words_by_frequency()
    {
        var tok = Sample();
        Assert.Equal(["<pad>", "</s>", "<unk>", "predict", "explain"], tok.Tokens.Take(5));
        // "cat" occurs 4 times, more than any other word, so it comes first among corpus words.
        Assert.Equal("cat", tok.IdToToken(5));
        Assert.Equal(tok.Tokens.Count, tok.Tokens.Distinct().Count());
    }

    [Fact]
    public void Round_trip_splits_punctuation_like_hf_whitespace_pre_tokenizer()
    {
        var tok = Sample();
        var ids = tok.Encode("How many legs in total: spider, cat, hen?");
        Assert.Equal(ITextTokenizer.EosId, ids[^1]);
        Assert.DoesNotContain(ITextTokenizer.UnkId, ids);
        Assert.Equal(13, ids.Length); // 12 words and punctuation marks + </s>
        Assert.Equal("How many legs in total : spider , cat , hen ?", tok.Decode(ids));
        Assert.Equal("8 + 4 = 12 .", tok.Decode(tok.Encode("8 + 4 = 12.")));
        Assert.Equal(new[] { tok.TokenToId("predict"), tok.TokenToId(":"), tok.TokenToId("cat") }, tok.Encode("predict: cat", addEos: false));
    }

    [Fact]
    public void Unknown_words_become_unk_and_specials_show_when_not_skipped()
    {
        var tok = Sample();
        var ids = tok.Encode("cat zebra", addEos: true);
        Assert.Equal(new[] { tok.TokenToId("cat"), ITextTokenizer.UnkId, ITextTokenizer.EosId }, ids);
        Assert.Equal("cat", tok.Decode(ids));
        Assert.Equal("cat <unk> </s>", tok.Decode(ids, skipSpecialTokens: false));
        Assert.Equal(new[] { ITextTokenizer.EosId, tok.TokenToId("cat") }, tok.Encode("</s> cat", addEos: false));
    }

    [Fact]
    public void Save_writes_hf_tokenizer_json_and_loader_reads_it_back()
    {
        var tok = Sample();
        tok.Save(_dir);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "tokenizer.json")))!;
        Assert.Equal("WordLevel", (string?)json["model"]!["type"]);
        Assert.Equal("<unk>", (string?)json["model"]!["unk_token"]);
        Assert.Equal(0, (int)json["model"]!["vocab"]!["<pad>"]!);
        Assert.Equal(1, (int)json["model"]!["vocab"]!["</s>"]!);
        Assert.Equal("Whitespace", (string?)json["pre_tokenizer"]!["type"]);
        Assert.Equal("TemplateProcessing", (string?)json["post_processor"]!["type"]);
        Assert.Equal("</s>", (string?)json["post_processor"]!["single"]![1]!["SpecialToken"]!["id"]);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "tokenizer_config.json")))!;
        Assert.Equal("PreTrainedTokenizerFast", (string?)config["tokenizer_class"]);
        Assert.Equal("</s>", (string?)config["eos_token"]);

        var loaded = TokenizerLoader.Load(_dir);
        var wl = Assert.IsType<WordLevelTokenizer>(loaded);
        Assert.Equal(tok.Tokens, wl.Tokens);
        var text = "A spider has 8 legs, a hen has 4 legs.";
        Assert.Equal(tok.Encode(text), loaded.Encode(text));
    }

    [Fact]
    public void Load_rejects_vocab_without_t5_special_ids_naming_the_file()
    {
        Sample().Save(_dir);
        var path = Path.Combine(_dir, "tokenizer.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        var vocab = json["model"]!["vocab"]!.AsObject();
        vocab["<pad>"] = 1;
        vocab["</s>"] = 0;
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<StepDistillException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains(path, e.Message);
        Assert.Contains("<pad>", e.Message);
    }

    [Fact]
    public void Load_rejects_non_dense_ids()
    {
        Sample().Save(_dir);
        var path = Path.Combine(_dir, "tokenizer.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json["model"]!["vocab"]!["cat"] = 999;
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<StepDistillException>(() => WordLevelTokenizer.Load(_dir));
        Assert.Contains("model.vocab[\"cat\"]", e.Message);
    }

    [Fact]
    public void A_tokenizer_json_with_another_model_type_is_not_picked()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), """{"model": {"type": "BPE", "vocab": {}}}""");
        var e = Assert.Throws<StepDistillException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains("tokenizer.json: tokenizer model type \"BPE\" is not supported", e.Message);
    }

    [Fact]
    public void Build_is_deterministic()
    {
        Assert.Equal(Sample().Tokens, Sample().Tokens);
        Assert.Throws<ArgumentException>(() => WordLevelTokenizer.Build(["a"], ["two words"]));
    }
}
