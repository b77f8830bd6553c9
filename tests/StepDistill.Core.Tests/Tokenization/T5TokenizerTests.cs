using System.Text.Json;
using StepDistill.Tests;
using StepDistill.Tokenization;

namespace StepDistill.Core.Tests.Tokenization;

public class T5TokenizerTests
{
    const string Fixture = "fixtures/t5/t5-tiny-v1_1";

    public sealed record Case(string Text, int[] Ids, string DecodedNoCleanup);

    static List<Case> LoadCases(string dir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "reference.json")));
        return doc.RootElement.GetProperty("tokenizer").GetProperty("cases").EnumerateArray()
            .Select(c => new Case(
                c.GetProperty("text").GetString()!,
                c.GetProperty("hf_slow_input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                c.GetProperty("hf_slow_decoded_no_cleanup").GetString()!))
            .ToList();
    }

    static (ITextTokenizer Tok, List<Case> Cases, string Dir) Setup()
    {
        var dir = SharedData.Require(Fixture);
        return (TokenizerLoader.Load(dir), LoadCases(dir), dir);
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void Encode_matches_hf_slow_tokenizer_on_all_reference_cases()
    {
        var (tok, cases, _) = Setup();
        Assert.Equal(43, cases.Count);
        var failures = cases
            .Select(c => (c, got: tok.Encode(c.Text)))
            .Where(x => !x.got.SequenceEqual(x.c.Ids))
            .Select(x => $"{JsonSerializer.Serialize(x.c.Text)}: expected [{string.Join(",", x.c.Ids)}] got [{string.Join(",", x.got)}]")
            .ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void Decode_skipping_specials_matches_hf_slow_tokenizer_on_all_reference_cases()
    {
        var (tok, cases, _) = Setup();
        var failures = cases
            .Select(c => (c, got: tok.Decode(c.Ids, skipSpecialTokens: true)))
            .Where(x => x.got != x.c.DecodedNoCleanup)
            .Select(x => $"{JsonSerializer.Serialize(x.c.Text)}: expected {JsonSerializer.Serialize(x.c.DecodedNoCleanup)} got " +
                $"{JsonSerializer.Serialize(x.got)}")
            .ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void Conventions_vocab_size_sentinels_and_empty_text()
    {
        var (tok, _, _) = Setup();
        var t5 = Assert.IsType<T5Tokenizer>(tok);
        Assert.Equal(32000, t5.PieceCount);
        Assert.Equal(100, t5.ExtraIds);
        Assert.Equal(32100, t5.VocabSize);
        Assert.Equal(32099, t5.SentinelId(0));
        Assert.Equal(32000, t5.SentinelId(99));
        Assert.Equal("<extra_id_0>", t5.IdToToken(32099));
        Assert.Equal("<extra_id_99>", t5.IdToToken(32000));
        Assert.Equal("</s>", t5.IdToToken(1));
        Assert.Equal("▁Hello", t5.IdToToken(8774));
        Assert.Equal([1], tok.Encode(""));
        Assert.Empty(tok.Encode("", addEos: false));
        Assert.Equal([8774, 296], tok.Encode("Hello world", addEos: false));
        Assert.Equal([32099, 1], tok.Encode("<extra_id_0>"));
        Assert.Equal([32000, 1], tok.Encode("  <extra_id_99>  "));
        // Not a sentinel of this vocabulary: spelled out as ordinary pieces.
        Assert.DoesNotContain(tok.Encode("<extra_id_100>"), id => id >= 32000);
        Assert.Throws<ArgumentOutOfRangeException>(() => t5.SentinelId(100));
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void Decode_without_skipping_prints_special_tokens()
    {
        var (tok, _, _) = Setup();
        var ids = tok.Encode("The <extra_id_0> walks in <extra_id_1> park");
        Assert.Equal("The<extra_id_0> walks in<extra_id_1> park</s>", tok.Decode(ids, skipSpecialTokens: false));
        Assert.Equal("The walks in park", tok.Decode(ids));
        Assert.Equal("<pad> Hello</s>", tok.Decode([0, 8774, 1], skipSpecialTokens: false));
        Assert.Equal("na<unk>ve", tok.Decode([3, 29, 9, 2, 162], skipSpecialTokens: false));
        // Re-encoding the non-skipped text gives the ids back (HF strips the spaces around specials).
        Assert.Equal(ids, tok.Encode(tok.Decode(ids, skipSpecialTokens: false), addEos: false));
        // Ids outside the vocabulary (e.g. -100 labels, unused embedding rows) count as unk.
        Assert.Equal("Hello", tok.Decode([8774, -100, 32127]));
        Assert.Equal("Hello<unk><unk>", tok.Decode([8774, -100, 32127], skipSpecialTokens: false));
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void Save_then_load_round_trips_ids_and_copies_model_bytes()
    {
        var (tok, cases, dir) = Setup();
        var outDir = Path.Combine(Path.GetTempPath(), "stepdistill-tok-" + Guid.NewGuid().ToString("N"));
        try
        {
            tok.Save(outDir);
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "spiece.model")), File.ReadAllBytes(Path.Combine(outDir, "spiece.model")));
            using (var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "tokenizer_config.json"))))
            {
                Assert.Equal("T5Tokenizer", cfg.RootElement.GetProperty("tokenizer_class").GetString());
                Assert.Equal(100, cfg.RootElement.GetProperty("extra_ids").GetInt32());
                Assert.Equal(100, cfg.RootElement.GetProperty("additional_special_tokens").GetArrayLength());
            }
            using (var map = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "special_tokens_map.json"))))
                Assert.Equal("</s>", map.RootElement.GetProperty("eos_token").GetString());

            var reloaded = TokenizerLoader.Load(outDir);
            Assert.IsType<T5Tokenizer>(reloaded);
            Assert.Equal(tok.VocabSize, reloaded.VocabSize);
            foreach (var c in cases) Assert.Equal(tok.Encode(c.Text), reloaded.Encode(c.Text));
        }
        finally { Directory.Delete(outDir, recursive: true); }
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void Extra_ids_come_from_tokenizer_config()
    {
        var (tok, _, dir) = Setup();
        var outDir = Path.Combine(Path.GetTempPath(), "stepdistill-tok-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(outDir);
            File.Copy(Path.Combine(dir, "spiece.model"), Path.Combine(outDir, "spiece.model"));
            File.WriteAllText(Path.Combine(outDir, "tokenizer_config.json"), """{"extra_ids": 10, "tokenizer_class": "T5Tokenizer"}""");
            var small = Assert.IsType<T5Tokenizer>(TokenizerLoader.Load(outDir));
            Assert.Equal(32010, small.VocabSize);
            Assert.Equal(32009, small.SentinelId(0));
            Assert.Equal([32009, 1], small.Encode("<extra_id_0>"));
        }
        finally { Directory.Delete(outDir, recursive: true); }
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void Saved_configs_match_the_ones_hf_wrote()
    {
        var (tok, _, dir) = Setup();
        var outDir = Path.Combine(Path.GetTempPath(), "stepdistill-tok-" + Guid.NewGuid().ToString("N"));
        try
        {
            tok.Save(outDir);
            foreach (var file in new[] { "tokenizer_config.json", "special_tokens_map.json" })
            {
                using var ours = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, file)));
                using var hf = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, file)));
                var hfProps = hf.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetRawText());
                foreach (var p in ours.RootElement.EnumerateObject())
                {
                    Assert.True(hfProps.TryGetValue(p.Name, out var expected), $"{file}: unexpected key {p.Name}");
                    Assert.Equal(JsonSerializer.Serialize(JsonDocument.Parse(expected).RootElement), JsonSerializer.Serialize(p.Value));
                }
                // The only key we leave out is model_max_length (HF's "no limit" placeholder when absent).
                Assert.Equal(hfProps.Keys.Where(k => k != "model_max_length").Order(), ours.RootElement.EnumerateObject().Select(p => p.Name).Order());
            }
        }
        finally { Directory.Delete(outDir, recursive: true); }
    }
}
