using System.Text;
using System.Text.Json;
using StepDistill.Tokenization;

namespace StepDistill.Core.Tests.Tokenization;

/// <summary>Needs no shared files.</summary>
public class ByteTokenizerTests
{
    readonly ByteTokenizer _tok = new();

    [Fact]
    public void Ids_are_utf8_bytes_plus_three_then_eos()
    {
        Assert.Equal(384, _tok.VocabSize);
        Assert.Equal(['H' + 3, 'i' + 3, 1], _tok.Encode("Hi"));
        Assert.Equal(['H' + 3, 'i' + 3], _tok.Encode("Hi", addEos: false));
        Assert.Equal([1], _tok.Encode(""));
        // é = C3 A9, € = E2 82 AC, 😀 = F0 9F 98 80
        Assert.Equal([0xC3 + 3, 0xA9 + 3, 0xE2 + 3, 0x82 + 3, 0xAC + 3, 0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3, 1], _tok.Encode("é€😀"));
    }

    [Theory]
    [InlineData("Hello, world!")]
    [InlineData("Crème brûlée, 日本語, Привет, 😀🚀 ≥ ≤")]
    [InlineData("line one\nline two\ttab  spaces ")]
    [InlineData("")]
    [InlineData("a < b > c <notatoken> <extra_id_x>")]
    public void Round_trips_text_exactly(string text)
    {
        var ids = _tok.Encode(text);
        Assert.All(ids[..^1], id => Assert.InRange(id, 3, 258));
        Assert.Equal(text, _tok.Decode(ids));
        Assert.Equal(text + "</s>", _tok.Decode(ids, skipSpecialTokens: false));
    }

    [Fact]
    public void Sentinels_follow_hf_byt5_and_specials_in_text_map_to_ids()
    {
        Assert.Equal(259, _tok.SentinelId(0));
        Assert.Equal(383, _tok.SentinelId(124));
        Assert.Equal("<extra_id_0>", _tok.IdToToken(259));
        Assert.Equal("<extra_id_124>", _tok.IdToToken(383));
        Assert.Throws<ArgumentOutOfRangeException>(() => _tok.SentinelId(125));

        // Sentinels strip the spaces around them (as HF's tokenize does for plain-string special tokens);
        // </s>, <pad>, <unk> are AddedTokens without stripping in ByT5Tokenizer.
        Assert.Equal(['a' + 3, 259, 'b' + 3, 1], _tok.Encode("a <extra_id_0> b"));
        Assert.Equal(['a' + 3, ' ' + 3, 1, ' ' + 3, 0, 2, 1], _tok.Encode("a </s> <pad><unk>"));
        Assert.Equal("ab", _tok.Decode(_tok.Encode("a <extra_id_0> b")));
        Assert.Equal("a<extra_id_0>b</s>", _tok.Decode(_tok.Encode("a <extra_id_0> b"), skipSpecialTokens: false));
    }

    [Fact]
    public void Decode_skips_specials_and_replaces_invalid_utf8()
    {
        // "é" split by a pad and a sentinel still decodes, because skipped ids do not break the byte run.
        Assert.Equal("é", _tok.Decode([0xC3 + 3, 0, 300, 0xA9 + 3, 1]));
        // A lone continuation byte and a truncated sequence become U+FFFD.
        Assert.Equal("\uFFFDa\uFFFD", _tok.Decode([0x80 + 3, 'a' + 3, 0xE2 + 3, 0x82 + 3]));
        Assert.Equal("<pad>x</s><unk>", _tok.Decode([0, 'x' + 3, 1, 999], skipSpecialTokens: false));
        Assert.Equal("x", _tok.Decode([-100, 'x' + 3, 999]));
    }

    [Fact]
    public void IdToToken_shows_ascii_and_hex_bytes()
    {
        Assert.Equal("A", _tok.IdToToken('A' + 3));
        Assert.Equal("<0x0A>", _tok.IdToToken('\n' + 3));
        Assert.Equal("<0xC3>", _tok.IdToToken(0xC3 + 3));
        Assert.Equal("<pad>", _tok.IdToToken(0));
    }

    [Fact]
    public void Long_text_round_trips()
    {
        var text = string.Concat(Enumerable.Repeat("naïve café 😀 ", 500)); // > the 1 KiB stack buffer
        var ids = _tok.Encode(text);
        Assert.Equal(Encoding.UTF8.GetByteCount(text) + 1, ids.Length);
        Assert.Equal(text, _tok.Decode(ids));
    }

    [Fact]
    public void Save_writes_byt5_config_and_loader_reads_it_back()
    {
        var dir = Path.Combine(Path.GetTempPath(), "stepdistill-byt5-" + Guid.NewGuid().ToString("N"));
        try
        {
            new ByteTokenizer(extraIds: 7).Save(dir);
            using (var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer_config.json"))))
            {
                Assert.Equal("ByT5Tokenizer", cfg.RootElement.GetProperty("tokenizer_class").GetString());
                Assert.Equal(7, cfg.RootElement.GetProperty("extra_ids").GetInt32());
                Assert.Equal(7, cfg.RootElement.GetProperty("additional_special_tokens").GetArrayLength());
            }
            Assert.True(File.Exists(Path.Combine(dir, "special_tokens_map.json")));
            var loaded = Assert.IsType<ByteTokenizer>(TokenizerLoader.Load(dir));
            Assert.Equal(7, loaded.ExtraIds);
            Assert.Equal(259 + 7, loaded.VocabSize);
            Assert.Equal(_tok.Encode("héllo <extra_id_3>"), loaded.Encode("héllo <extra_id_3>"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
