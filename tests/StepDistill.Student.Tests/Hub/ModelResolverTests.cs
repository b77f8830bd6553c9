using System.Net;
using System.Net.Sockets;
using StepDistill.Student.Hub;
using static StepDistill.Student.Tests.Hub.HubTestData;

namespace StepDistill.Student.Tests.Hub;

public class ModelResolverTests
{
    const string Repo = "test-org/tiny-t5";
    static readonly string[] Needed =
        ["config.json", "generation_config.json", "tokenizer_config.json", "special_tokens_map.json", "spiece.model", "model.safetensors"];

    static string RepoDir(string cache, string repo = Repo) => Path.Combine(cache, "models--" + repo.Replace("/", "--"));

    [Fact]
    public async Task First_download_lays_out_the_cache_as_python_does()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());
        var progress = new ProgressLog();

        var snapshot = await ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path), progress);

        var repoDir = RepoDir(tmp.Path);
        Assert.Equal(Path.Combine(repoDir, "snapshots", Main), snapshot);
        Assert.Equal(Main, File.ReadAllText(Path.Combine(repoDir, "refs", "main")));
        var files = TinyT5().Commits[Main];
        foreach (var name in Needed)
        {
            var pointer = new FileInfo(Path.Combine(snapshot, name));
            var etag = FakeHub.EtagOf(name, files[name]);
            Assert.Equal("../../blobs/" + etag, pointer.LinkTarget); // relative symlink into blobs, like huggingface_hub
            Assert.Equal(files[name], File.ReadAllBytes(Path.Combine(repoDir, "blobs", etag)));
            Assert.Equal(files[name], File.ReadAllBytes(pointer.FullName));
        }
        // LFS blobs are named by sha256, other files by their git blob sha1.
        Assert.True(File.Exists(Path.Combine(repoDir, "blobs", FakeHub.Sha256(files["model.safetensors"]))));
        Assert.True(File.Exists(Path.Combine(repoDir, "blobs", FakeHub.GitSha1(files["config.json"]))));
        // Only what a PyTorch T5 needs was fetched, and nothing looks half-done.
        Assert.Equal(Needed.Order(), Directory.GetFileSystemEntries(snapshot).Select(Path.GetFileName).Order());
        Assert.Empty(Directory.GetFiles(Path.Combine(repoDir, "blobs"), "*.incomplete"));
        Assert.DoesNotContain(hub.Requests, r => r.Path.Contains("README.md") || r.Path.Contains("flax_model"));
        Assert.Contains(hub.Requests, r => r.Method == "GET" && r.Path == $"/api/models/{Repo}/revision/main");
        // Every file reported completion once, with its size.
        var done = progress.Reports.Where(p => p.Completed).ToList();
        Assert.Equal(Needed.Order(), done.Select(p => p.FileName).Order());
        Assert.All(done, p => Assert.Equal(files[p.FileName].Length, p.BytesDone));
        Assert.Contains(progress.Reports, p => p.FileName == "model.safetensors" && !p.Completed && p.BytesDone > 0);
    }

    [Fact]
    public async Task Second_resolve_makes_no_request()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());
        var first = await ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path));
        int before = hub.Requests.Count;
        Assert.True(before > 0);

        var progress = new ProgressLog();
        var second = await ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path), progress);

        Assert.Equal(first, second);
        Assert.Equal(before, hub.Requests.Count);
        Assert.Empty(progress.Reports);
    }

    [Fact]
    public async Task A_cut_download_keeps_its_partial_file_and_the_next_call_resumes_it()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());
        var weights = TinyT5().Commits[Main]["model.safetensors"];
        var sha = FakeHub.Sha256(weights);
        hub.CutOnce("model.safetensors", 123_456);

        var error = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path, maxRetries: 0)));
        Assert.Contains("interrupted", error.Message);
        Assert.Contains("model.safetensors", error.Message);
        Assert.Contains("resume", error.Message);
        var blobs = Path.Combine(RepoDir(tmp.Path), "blobs");
        Assert.Equal(123_456, new FileInfo(Path.Combine(blobs, sha + ".incomplete")).Length);
        Assert.False(File.Exists(Path.Combine(blobs, sha)));
        Assert.False(File.Exists(Path.Combine(RepoDir(tmp.Path), "snapshots", Main, "model.safetensors")));

        var snapshot = await ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path, maxRetries: 0));

        Assert.Contains(hub.Requests, r => r.Method == "GET" && r.Path == "/cdn/" + sha && r.Range == "bytes=123456-");
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(blobs, sha + ".incomplete")));
    }

    [Fact]
    public async Task A_cut_download_is_resumed_within_the_same_call_when_retries_are_allowed()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());
        var weights = TinyT5().Commits[Main]["model.safetensors"];
        hub.CutOnce("model.safetensors", 100_000);

        var snapshot = await ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path, maxRetries: 1));

        var gets = hub.Requests.Where(r => r.Method == "GET" && r.Path == "/cdn/" + FakeHub.Sha256(weights)).ToList();
        Assert.Equal([null, "bytes=100000-"], gets.Select(r => r.Range));
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
    }

    [Fact]
    public async Task A_corrupted_download_is_detected_by_sha256_and_fetched_again()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());
        var weights = TinyT5().Commits[Main]["model.safetensors"];
        hub.Corrupt("model.safetensors", times: 1);

        var snapshot = await ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path, maxRetries: 1));

        var gets = hub.Requests.Where(r => r.Method == "GET" && r.Path == "/cdn/" + FakeHub.Sha256(weights)).ToList();
        Assert.Equal(2, gets.Count);
        Assert.Null(gets[1].Range); // bad bytes are not resumed from
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
    }

    [Fact]
    public async Task A_download_that_stays_corrupted_leaves_nothing_that_looks_complete()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());
        var sha = FakeHub.Sha256(TinyT5().Commits[Main]["model.safetensors"]);
        hub.Corrupt("model.safetensors", times: 5);

        var error = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path, maxRetries: 1)));

        Assert.Contains("failed verification", error.Message);
        Assert.Contains("sha256", error.Message);
        Assert.Contains(sha, error.Message);
        var blobs = Path.Combine(RepoDir(tmp.Path), "blobs");
        Assert.False(File.Exists(Path.Combine(blobs, sha)));
        Assert.False(File.Exists(Path.Combine(blobs, sha + ".incomplete")));
        Assert.False(File.Exists(Path.Combine(RepoDir(tmp.Path), "snapshots", Main, "model.safetensors")));
        // And offline, the model is reported incomplete rather than used.
        var offline = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path, offline: true)));
        Assert.Contains("weights", offline.Message);
    }

    [Fact]
    public async Task Offline_without_the_model_in_the_cache_says_what_is_missing_and_sends_nothing()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());

        var error = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync(Repo + "@v1", Options(hub.Endpoint, tmp.Path, offline: true)));

        Assert.Contains("HF_HUB_OFFLINE", error.Message);
        Assert.Contains("test-org/tiny-t5@v1", error.Message);
        Assert.Contains("refs/v1", error.Message);
        Assert.Contains(tmp.Path, error.Message);
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public async Task Offline_with_the_model_in_the_cache_uses_it_without_requests()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());
        var online = await ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path));
        int before = hub.Requests.Count;

        var offline = await ModelResolver.ResolveAsync(Repo, Options("http://127.0.0.1:9", tmp.Path, offline: true));

        Assert.Equal(online, offline);
        Assert.Equal(before, hub.Requests.Count);
    }

    [Fact]
    public async Task Offline_with_an_incomplete_snapshot_names_the_missing_files()
    {
        using var tmp = new TempDir();
        var snapshot = Path.Combine(RepoDir(tmp.Path), "snapshots", Main);
        Directory.CreateDirectory(snapshot);
        File.WriteAllBytes(Path.Combine(snapshot, "config.json"), TinyT5().Commits[Main]["config.json"]);
        Directory.CreateDirectory(Path.Combine(RepoDir(tmp.Path), "refs"));
        File.WriteAllText(Path.Combine(RepoDir(tmp.Path), "refs", "main"), Main);

        var error = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync(Repo, Options("http://127.0.0.1:9", tmp.Path, offline: true)));

        Assert.Contains("HF_HUB_OFFLINE", error.Message);
        Assert.Contains("weights (model.safetensors or pytorch_model.bin)", error.Message);
        Assert.Contains("tokenizer (spiece.model or tokenizer.json)", error.Message);
        Assert.DoesNotContain("config.json,", error.Message);
    }

    [Fact]
    public async Task A_revision_pinned_by_commit_gets_that_commit_and_writes_no_ref()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());

        var snapshot = await ModelResolver.ResolveAsync(Repo + "@" + Old, Options(hub.Endpoint, tmp.Path));

        Assert.Equal(Path.Combine(RepoDir(tmp.Path), "snapshots", Old), snapshot);
        Assert.Equal(TinyT5().Commits[Old]["config.json"], File.ReadAllBytes(Path.Combine(snapshot, "config.json")));
        Assert.Contains("\"d_model\": 4", File.ReadAllText(Path.Combine(snapshot, "config.json")));
        Assert.False(Directory.Exists(Path.Combine(RepoDir(tmp.Path), "refs")) &&
                     Directory.EnumerateFileSystemEntries(Path.Combine(RepoDir(tmp.Path), "refs")).Any());
        Assert.All(hub.Requests.Where(r => r.Path.Contains("/resolve/")), r => Assert.Contains($"/resolve/{Old}/", r.Path));

        // Pinned commits are found in the cache without asking, even with no ref.
        int before = hub.Requests.Count;
        Assert.Equal(snapshot, await ModelResolver.ResolveAsync(Repo + "@" + Old, Options(hub.Endpoint, tmp.Path)));
        Assert.Equal(before, hub.Requests.Count);
    }

    [Fact]
    public async Task A_tag_is_recorded_in_refs_and_shares_blobs_with_other_revisions()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());

        var main = await ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path));
        int before = hub.Requests.Count(r => r.Method == "GET" && r.Path.StartsWith("/cdn/"));
        var v1 = await ModelResolver.ResolveAsync(Repo + "@v1", Options(hub.Endpoint, tmp.Path));
        var v0 = await ModelResolver.ResolveAsync(Repo + "@v0", Options(hub.Endpoint, tmp.Path));

        Assert.Equal(main, v1); // same commit, same snapshot
        Assert.Equal(Main, File.ReadAllText(Path.Combine(RepoDir(tmp.Path), "refs", "v1")));
        Assert.Equal(Old, File.ReadAllText(Path.Combine(RepoDir(tmp.Path), "refs", "v0")));
        Assert.EndsWith(Old, v0);
        // v1 downloaded no bytes (its blobs were there); v0 needed its own two LFS files.
        Assert.Equal(before + 2, hub.Requests.Count(r => r.Method == "GET" && r.Path.StartsWith("/cdn/")));
    }

    [Fact]
    public async Task Unknown_model_and_unknown_revision_give_clear_messages()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());

        var noRepo = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync("test-org/no-such-model", Options(hub.Endpoint, tmp.Path)));
        Assert.Contains("test-org/no-such-model not found", noRepo.Message);
        Assert.Contains("HF_TOKEN", noRepo.Message); // 401 without a token may also mean "private"

        var noRepoWithToken = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync("test-org/no-such-model", Options(hub.Endpoint, tmp.Path, token: "hf_abc")));
        Assert.Contains("test-org/no-such-model not found", noRepoWithToken.Message);
        Assert.DoesNotContain("hf_abc", noRepoWithToken.Message);

        var noRevision = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync(Repo + "@no-such-branch", Options(hub.Endpoint, tmp.Path)));
        Assert.Contains("revision 'no-such-branch' not found in test-org/tiny-t5", noRevision.Message);
        Assert.False(Directory.Exists(Path.Combine(RepoDir(tmp.Path), "snapshots")));
    }

    [Fact]
    public async Task A_gated_model_needs_a_token_which_is_sent_but_never_shown()
    {
        using var tmp = new TempDir();
        const string secret = "hf_SECRET_token_123";
        using var hub = new FakeHub(Gated(secret));

        var noToken = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync("test-org/gated-t5", Options(hub.Endpoint, tmp.Path)));
        Assert.Contains("gated", noToken.Message);
        Assert.Contains("HF_TOKEN", noToken.Message);
        Assert.Contains($"{hub.Endpoint}/test-org/gated-t5", noToken.Message);

        var wrongToken = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync("test-org/gated-t5", Options(hub.Endpoint, tmp.Path, token: "hf_wrong_token")));
        Assert.Contains("has no access", wrongToken.Message);
        Assert.DoesNotContain("hf_wrong_token", wrongToken.ToString());

        var snapshot = await ModelResolver.ResolveAsync("test-org/gated-t5", Options(hub.Endpoint, tmp.Path, token: secret));
        Assert.True(File.Exists(Path.Combine(snapshot, "model.safetensors")));
        // The token went to the Hub's own host, and is never part of the options' text.
        Assert.Contains(hub.Requests, r => r.Authorization == "Bearer " + secret);
        Assert.DoesNotContain(secret, Options(hub.Endpoint, tmp.Path, token: secret).ToString());
    }

    [Fact]
    public async Task A_model_that_is_not_a_t5_is_refused_naming_its_model_type()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(Bert());

        var error = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync("test-org/tiny-bert", Options(hub.Endpoint, tmp.Path)));

        Assert.Contains("model_type \"bert\"", error.Message);
        Assert.Contains("test-org/tiny-bert is not a T5 model", error.Message);
    }

    [Fact]
    public async Task No_network_says_so_and_suggests_offline_mode_or_a_local_folder()
    {
        using var tmp = new TempDir();
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        int port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop(); // nothing listens there any more: connections are refused

        var error = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync(Repo, Options($"http://127.0.0.1:{port}", tmp.Path)));

        Assert.Contains("cannot reach the Hugging Face Hub", error.Message);
        Assert.Contains("HF_HUB_OFFLINE=1", error.Message);
        Assert.Contains("local model folder", error.Message);
    }

    [Fact]
    public async Task A_cache_laid_out_by_hand_as_python_does_is_used_without_requests()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(); // knows no repository: any request would fail the resolve
        // What huggingface_hub leaves after snapshot_download("google/flan-t5-small"): blobs named by etag,
        // refs/main holding the commit, snapshot entries as relative links.
        var repoDir = Path.Combine(tmp.Path, "models--google--flan-t5-small");
        const string commit = "0fc9ddf78a1e988dac52e2dac162b0ede4fd74ab";
        Directory.CreateDirectory(Path.Combine(repoDir, "blobs"));
        Directory.CreateDirectory(Path.Combine(repoDir, "refs"));
        var snap = Path.Combine(repoDir, "snapshots", commit);
        Directory.CreateDirectory(snap);
        File.WriteAllText(Path.Combine(repoDir, "refs", "main"), commit);
        foreach (var (name, bytes) in T5Files(60).Where(f => Needed.Contains(f.Key)))
        {
            var etag = FakeHub.EtagOf(name, bytes);
            File.WriteAllBytes(Path.Combine(repoDir, "blobs", etag), bytes);
            File.CreateSymbolicLink(Path.Combine(snap, name), "../../blobs/" + etag);
        }
        // A Python .no_exist marker folder and a lock folder must not confuse anything.
        Directory.CreateDirectory(Path.Combine(repoDir, ".no_exist", commit));
        File.WriteAllText(Path.Combine(repoDir, ".no_exist", commit, "added_tokens.json"), "");
        Directory.CreateDirectory(Path.Combine(tmp.Path, ".locks", "models--google--flan-t5-small"));

        // HF_HUB_CACHE pointing there, as a user with a Python cache would have it.
        var env = new Dictionary<string, string> { ["HF_HUB_CACHE"] = tmp.Path, ["HF_ENDPOINT"] = hub.Endpoint };
        var options = new HubOptions(k => env.GetValueOrDefault(k));

        var snapshot = await ModelResolver.ResolveAsync("google/flan-t5-small", options);

        Assert.Equal(snap, snapshot);
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public async Task Files_python_already_put_in_a_snapshot_are_not_fetched_again()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());
        var files = TinyT5().Commits[Main];
        // Python fetched only config.json (AutoConfig.from_pretrained): the rest must be downloaded.
        var repoDir = RepoDir(tmp.Path);
        var configEtag = FakeHub.GitSha1(files["config.json"]);
        Directory.CreateDirectory(Path.Combine(repoDir, "blobs"));
        Directory.CreateDirectory(Path.Combine(repoDir, "snapshots", Main));
        Directory.CreateDirectory(Path.Combine(repoDir, "refs"));
        File.WriteAllText(Path.Combine(repoDir, "refs", "main"), Main);
        File.WriteAllBytes(Path.Combine(repoDir, "blobs", configEtag), files["config.json"]);
        File.CreateSymbolicLink(Path.Combine(repoDir, "snapshots", Main, "config.json"), "../../blobs/" + configEtag);

        var snapshot = await ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path));

        Assert.DoesNotContain(hub.Requests, r => r.Path.EndsWith("/config.json"));
        Assert.Contains(hub.Requests, r => r.Path.EndsWith("/model.safetensors"));
        Assert.Equal(files["model.safetensors"], File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
    }

    [Fact]
    public async Task Sharded_safetensors_fetch_the_index_and_every_shard()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(Sharded());

        var snapshot = await ModelResolver.ResolveAsync("test-org/sharded-t5", Options(hub.Endpoint, tmp.Path));

        var files = Sharded().Commits[Main];
        foreach (var name in new[] { "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" })
            Assert.Equal(files[name], File.ReadAllBytes(Path.Combine(snapshot, name)));
        Assert.Empty(T5Files_Missing(snapshot));
    }

    [Fact]
    public async Task A_repository_with_only_pytorch_model_bin_gets_that_file()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(BinOnly());

        var snapshot = await ModelResolver.ResolveAsync("test-org/bin-t5", Options(hub.Endpoint, tmp.Path));

        Assert.Equal(BinOnly().Commits[Main]["pytorch_model.bin"], File.ReadAllBytes(Path.Combine(snapshot, "pytorch_model.bin")));
        Assert.False(File.Exists(Path.Combine(snapshot, "tf_model.h5")));
    }

    [Fact]
    public async Task An_existing_folder_wins_and_makes_no_request()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());
        var folder = Path.Combine(tmp.Path, "test-org", "tiny-t5");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "config.json"), T5Files(1)["config.json"]);

        var resolved = await ModelResolver.ResolveAsync(folder, Options(hub.Endpoint, Path.Combine(tmp.Path, "cache")));

        Assert.Equal(folder, resolved);
        Assert.Empty(hub.Requests);

        File.WriteAllBytes(Path.Combine(folder, "config.json"), T5Files(1, modelType: "gpt2")["config.json"]);
        var error = await Assert.ThrowsAsync<StepDistillException>(() => ModelResolver.ResolveAsync(folder, Options(hub.Endpoint, tmp.Path)));
        Assert.Contains("model_type \"gpt2\"", error.Message);
    }

    [Theory]
    [InlineData("./models/my-t5", "model folder './models/my-t5' not found")]
    [InlineData("/no/such/dir", "model folder '/no/such/dir' not found")]
    [InlineData("org/name@", "nothing after '@'")]
    [InlineData("org/na me", "not a Hub model id")]
    public async Task Arguments_that_are_neither_folder_nor_model_id_are_explained(string arg, string expected)
    {
        using var tmp = new TempDir();
        var error = await Assert.ThrowsAsync<StepDistillException>(() =>
            ModelResolver.ResolveAsync(arg, Options("http://127.0.0.1:9", tmp.Path)));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public async Task Two_concurrent_resolves_of_the_same_model_both_succeed()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(TinyT5());

        var both = await Task.WhenAll(
            ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path)),
            ModelResolver.ResolveAsync(Repo, Options(hub.Endpoint, tmp.Path)));

        Assert.Equal(both[0], both[1]);
        Assert.Equal(TinyT5().Commits[Main]["model.safetensors"], File.ReadAllBytes(Path.Combine(both[0], "model.safetensors")));
        Assert.Empty(Directory.GetFiles(Path.Combine(RepoDir(tmp.Path), "blobs"), "*.incomplete"));
    }

    static List<string> T5Files_Missing(string snapshot) => StepDistill.Student.Hub.T5Files.Missing(snapshot);
}

public class HubClientTests
{
    [Fact]
    public async Task File_metadata_comes_from_the_hub_answer_not_the_cdn()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(HubTestData.TinyT5());
        using var client = new HubClient(HubTestData.Options(hub.Endpoint, tmp.Path));
        var id = ModelId.TryParse("test-org/tiny-t5", out _)!;
        var files = HubTestData.TinyT5().Commits[HubTestData.Main];

        var weights = await client.GetFileMetaAsync(id, HubTestData.Main, "model.safetensors", default);
        var config = await client.GetFileMetaAsync(id, HubTestData.Main, "config.json", default);

        Assert.True(weights.IsLfs);
        Assert.Equal(FakeHub.Sha256(files["model.safetensors"]), weights.Etag);
        Assert.Equal(files["model.safetensors"].Length, weights.Size);
        Assert.Equal(HubTestData.Main, weights.Commit);
        Assert.StartsWith("/cdn/", weights.DownloadUrl.AbsolutePath); // the 302 was not followed for HEAD
        Assert.False(config.IsLfs);
        Assert.Equal(FakeHub.GitSha1(files["config.json"]), config.Etag);
        Assert.Equal(files["config.json"].Length, config.Size);
        Assert.All(hub.Requests, r => Assert.Equal("HEAD", r.Method));
        Assert.Equal(2, hub.Requests.Count);
    }

    [Fact]
    public async Task A_missing_file_is_reported_by_name()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(HubTestData.TinyT5());
        using var client = new HubClient(HubTestData.Options(hub.Endpoint, tmp.Path));
        var id = ModelId.TryParse("test-org/tiny-t5", out _)!;

        var error = await Assert.ThrowsAsync<StepDistillException>(() =>
            client.GetFileMetaAsync(id, HubTestData.Main, "tokenizer.json", default));

        Assert.Contains("tokenizer.json not found in test-org/tiny-t5", error.Message);
    }
}
