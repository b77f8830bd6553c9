using StepDistill.Student.Checkpoint;
using StepDistill.Student.Hub;
using StepDistill.Tests;
using static StepDistill.Student.Tests.Hub.HubTestData;

namespace StepDistill.Student.Tests.Hub;

/// <summary>The shared tiny T5 fixtures served by the fake Hub as if they were Hub models.</summary>
public class HubFixtureTests
{
    static FakeRepo FromFolder(string repoId, string folder) =>
        new FakeRepo(repoId).Commit(Main,
            Directory.GetFiles(folder).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes), "main");

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public async Task The_tiny_t5_fixture_downloads_byte_for_byte_without_its_reference_files()
    {
        var folder = SharedData.Require("fixtures/t5/t5-tiny-v1_1");
        using var tmp = new TempDir();
        using var hub = new FakeHub(FromFolder("test-org/tiny-t5", folder));

        var snapshot = await ModelResolver.ResolveAsync("test-org/tiny-t5", Options(hub.Endpoint, tmp.Path));

        var expected = new[] { "config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json", "spiece.model",
            "tokenizer_config.json" };
        Assert.Equal(expected, Directory.GetFileSystemEntries(snapshot).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var name in expected)
            Assert.Equal(File.ReadAllBytes(Path.Combine(folder, name)), File.ReadAllBytes(Path.Combine(snapshot, name)));
        // The fixture's published sha256 is the blob's name.
        Assert.True(File.Exists(Path.Combine(tmp.Path, "models--test-org--tiny-t5", "blobs",
            "d0c11ebf9111199a23081ee135f03323b98e9a767c23e01994c749249ae28829")));
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public async Task The_bin_only_fixture_downloads_and_its_weights_load()
    {
        var folder = SharedData.Require("fixtures/t5/t5-tiny-v1_1-bin");
        using var tmp = new TempDir();
        // A repository would not hold malicious.bin; leave it out.
        var repo = FromFolder("test-org/tiny-t5-bin", folder);
        repo.Commits[Main].Remove("malicious.bin");
        using var hub = new FakeHub(repo);

        var snapshot = await ModelResolver.ResolveAsync("test-org/tiny-t5-bin", Options(hub.Endpoint, tmp.Path));
        var tensors = PyTorchBin.Load(Path.Combine(snapshot, "pytorch_model.bin"));
        try
        {
            Assert.Equal(54, tensors.Count);
            Assert.Equal([32128L, 64L], tensors["lm_head.weight"].shape);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
