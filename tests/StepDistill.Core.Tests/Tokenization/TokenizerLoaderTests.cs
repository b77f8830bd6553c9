using StepDistill.Tokenization;

namespace StepDistill.Core.Tests.Tokenization;

/// <summary>Needs no shared files.</summary>
public sealed class TokenizerLoaderTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "stepdistill-loader-" + Guid.NewGuid().ToString("N"));

    public TokenizerLoaderTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Missing_folder_is_named()
    {
        var missing = Path.Combine(_dir, "nope");
        var e = Assert.Throws<StepDistillException>(() => TokenizerLoader.Load(missing));
        Assert.Contains(missing, e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void Empty_folder_names_the_files_looked_for()
    {
        var e = Assert.Throws<StepDistillException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains(_dir, e.Message);
        Assert.Contains("spiece.model", e.Message);
        Assert.Contains("tokenizer_config.json", e.Message);
        Assert.Contains("ByT5Tokenizer", e.Message);
    }

    [Fact]
    public void Unsupported_tokenizer_class_is_named()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), """{"tokenizer_class": "GPT2Tokenizer"}""");
        var e = Assert.Throws<StepDistillException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains("GPT2Tokenizer", e.Message);
    }

    [Fact]
    public void Invalid_config_json_names_file_and_line()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), "{\n  \"tokenizer_class\": \"ByT5Tokenizer\",\n  oops\n}");
        var e = Assert.Throws<StepDistillException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains("tokenizer_config.json", e.Message);
        Assert.Contains("line 3", e.Message);
    }

    [Fact]
    public void Wrongly_typed_extra_ids_is_reported()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), """{"tokenizer_class": "ByT5Tokenizer", "extra_ids": "many"}""");
        var e = Assert.Throws<StepDistillException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains("extra_ids", e.Message);
    }

    [Fact]
    public void Corrupt_spiece_model_is_reported_with_its_path()
    {
        File.WriteAllBytes(Path.Combine(_dir, "spiece.model"), [0x0A, 0xFF, 0xFF, 0x01]);
        var e = Assert.Throws<StepDistillException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains("spiece.model", e.Message);
    }

    [Fact]
    public void Byt5_config_without_extra_ids_uses_125()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), """{"tokenizer_class": "ByT5Tokenizer"}""");
        var tok = Assert.IsType<ByteTokenizer>(TokenizerLoader.Load(_dir));
        Assert.Equal(384, tok.VocabSize);
    }
}
