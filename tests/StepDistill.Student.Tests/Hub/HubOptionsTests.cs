using StepDistill.Student.Hub;

namespace StepDistill.Student.Tests.Hub;

public class HubOptionsTests
{
    static HubOptions From(params (string Key, string Value)[] vars)
    {
        var env = vars.ToDictionary(v => v.Key, v => v.Value);
        return new HubOptions(k => env.GetValueOrDefault(k));
    }

    [Fact]
    public void Defaults_match_huggingface_hub()
    {
        var o = From(("HOME", "/home/u"));
        Assert.Equal("https://huggingface.co", o.Endpoint);
        Assert.Equal("/home/u/.cache/huggingface/hub", o.CacheDir);
        Assert.False(o.Offline);
    }

    [Fact]
    public void Cache_dir_prefers_hf_hub_cache_then_hf_home_then_xdg()
    {
        Assert.Equal("/c", From(("HOME", "/h"), ("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/c")).CacheDir);
        Assert.Equal("/hf/hub", From(("HOME", "/h"), ("HF_HOME", "/hf"), ("XDG_CACHE_HOME", "/x")).CacheDir);
        Assert.Equal("/x/huggingface/hub", From(("HOME", "/h"), ("XDG_CACHE_HOME", "/x")).CacheDir);
        Assert.Equal("/h/hfhome/hub", From(("HOME", "/h"), ("HF_HOME", "~/hfhome")).CacheDir);
    }

    [Fact]
    public void Endpoint_comes_from_hf_endpoint_without_trailing_slash()
    {
        Assert.Equal("https://hf-mirror.example", From(("HF_ENDPOINT", "https://hf-mirror.example/")).Endpoint);
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("true", true)]
    [InlineData("YES", true)]
    [InlineData("on", true)]
    [InlineData("0", false)]
    [InlineData("", false)]
    public void Offline_accepts_the_same_values_as_python(string value, bool expected)
    {
        Assert.Equal(expected, From(("HF_HUB_OFFLINE", value)).Offline);
    }

    [Fact]
    public void Token_comes_from_hf_token_else_the_token_file_python_writes()
    {
        using var tmp = new TempDir();
        File.WriteAllText(Path.Combine(tmp.Path, "token"), "hf_from_file\n");

        Assert.Equal("hf_from_env", From(("HF_HOME", tmp.Path), ("HF_TOKEN", "hf_from_env")).Token);
        Assert.Equal("hf_from_file", From(("HF_HOME", tmp.Path)).Token);
        Assert.Null(From(("HF_HOME", Path.Combine(tmp.Path, "absent"))).Token);
        var options = From(("HF_HOME", tmp.Path));
        Assert.DoesNotContain("hf_from_file", options.ToString());
        Assert.Contains("Token = set", options.ToString());
    }

    [Theory]
    [InlineData("google/flan-t5-base", "google/flan-t5-base", "main")]
    [InlineData("t5-small", "t5-small", "main")]
    [InlineData("google/t5-v1_1-small@v1.0", "google/t5-v1_1-small", "v1.0")]
    [InlineData("org/m@refs/pr/1", "org/m", "refs/pr/1")]
    [InlineData("org/m@0fc9ddf78a1e988dac52e2dac162b0ede4fd74ab", "org/m", "0fc9ddf78a1e988dac52e2dac162b0ede4fd74ab")]
    public void Model_ids_parse_with_optional_revision(string text, string repo, string revision)
    {
        var id = ModelId.TryParse(text, out var why);
        Assert.NotNull(id);
        Assert.Null(why);
        Assert.Equal(repo, id.RepoId);
        Assert.Equal(revision, id.Revision);
        Assert.Equal("models--" + repo.Replace("/", "--"), id.CacheFolderName);
    }

    [Theory]
    [InlineData("a/b/c")]
    [InlineData("org/-bad")]
    [InlineData("org/a--b")]
    [InlineData("org/a..b")]
    [InlineData("org/m@../../etc")]
    [InlineData("")]
    public void Invalid_model_ids_are_rejected_with_a_reason(string text)
    {
        Assert.Null(ModelId.TryParse(text, out var why));
        Assert.False(string.IsNullOrEmpty(why));
    }

    [Fact]
    public void Shard_names_that_could_escape_the_snapshot_are_unsafe()
    {
        Assert.True(T5Files.IsSafeRelativeName("model-00001-of-00002.safetensors"));
        Assert.True(T5Files.IsSafeRelativeName("sub/model.safetensors"));
        Assert.False(T5Files.IsSafeRelativeName("../../blobs/x"));
        Assert.False(T5Files.IsSafeRelativeName("/etc/passwd"));
        Assert.False(T5Files.IsSafeRelativeName("a\\b"));
    }
}
