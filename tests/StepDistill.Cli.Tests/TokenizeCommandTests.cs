using System.Diagnostics;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Cli;
using StepDistill.Cli.Commands;
using StepDistill.Tests;
using StepDistill.Tokenization;

namespace StepDistill.Cli.Tests;

public sealed class TokenizeCommandTests : IDisposable
{
    const string T5Fixture = "fixtures/t5/t5-tiny-v1_1";

    // A ByT5 tokenizer folder: lets most tests run without ../shared.
    readonly string _byt5Dir = Path.Combine(Path.GetTempPath(), "stepdistill-cli-byt5-" + Guid.NewGuid().ToString("N"));
    readonly ByteTokenizer _bytes = new();

    public TokenizeCommandTests() => _bytes.Save(_byt5Dir);
    public void Dispose() => Directory.Delete(_byt5Dir, recursive: true);

    /// <summary>Runs the real command tree in-process, with stdout captured.</summary>
    static async Task<(int ExitCode, string Stdout)> Run(params string[] args)
    {
        var (rc, stdout, _) = await CliHarness.Run(args);
        return (rc, stdout);
    }

    static int[] SingleJsonArray(string stdout)
    {
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        return JsonSerializer.Deserialize<int[]>(lines[0])!;
    }

    [Theory]
    [InlineData("héllo")]
    [InlineData("line one\nline two\n")] // newlines are kept
    public async Task Json_prints_exactly_one_array_with_eos(string text)
    {
        var (rc, stdout) = await Run("tokenize", "--model", _byt5Dir, "--json", text);
        Assert.Equal(0, rc);
        Assert.Equal(_bytes.Encode(text), SingleJsonArray(stdout));
    }

    [Fact]
    public async Task Empty_text_gives_only_eos()
    {
        var (rc, stdout) = await Run("tokenize", "--model", _byt5Dir, "--json", "");
        Assert.Equal(0, rc);
        Assert.Equal([1], SingleJsonArray(stdout));
        (rc, stdout) = await Run("tokenize", "--model", _byt5Dir, "--json", "--", "");
        Assert.Equal(0, rc);
        Assert.Equal([1], SingleJsonArray(stdout));
    }

    [Theory]
    [InlineData("-42 hi")]
    [InlineData("-")]
    [InlineData("--json")]
    [InlineData("--x=3 -a")]
    [InlineData("--")]
    public async Task Dash_leading_text_after_separator_is_taken_verbatim(string text)
    {
        var (rc, stdout) = await Run("tokenize", "--model", _byt5Dir, "--json", "--", text);
        Assert.Equal(0, rc);
        Assert.Equal(_bytes.Encode(text), SingleJsonArray(stdout));
    }

    [Fact]
    public async Task Several_arguments_after_separator_are_joined_with_spaces()
    {
        var (rc, stdout) = await Run("tokenize", "--model", _byt5Dir, "--json", "--", "-a", "", "b");
        Assert.Equal(0, rc);
        Assert.Equal(_bytes.Encode("-a  b"), SingleJsonArray(stdout));
    }

    [Fact]
    public async Task Text_both_before_and_after_separator_is_an_error()
    {
        var (rc, stdout) = await Run("tokenize", "--model", _byt5Dir, "a", "--", "b");
        Assert.Equal(1, rc);
        Assert.Equal("", stdout);
    }

    [Fact]
    public async Task Readable_listing_shows_ids_and_tokens()
    {
        var (rc, stdout) = await Run("tokenize", "--model", _byt5Dir, "Hi <extra_id_0>");
        Assert.Equal(0, rc);
        Assert.Contains("<extra_id_0>", stdout);
        Assert.Contains("259", stdout);
        Assert.Contains("</s>", stdout);
        Assert.Contains("4 tokens", stdout);
    }

    [Fact]
    public async Task Missing_model_folder_fails_with_exit_code_1()
    {
        var missing = Path.Combine(_byt5Dir, "does-not-exist");
        var (rc, stdout) = await Run("tokenize", "--model", missing, "--json", "x");
        Assert.Equal(1, rc);
        Assert.Equal("", stdout);
        var e = Assert.Throws<StepDistillException>(() => ModelLocation.Resolve(missing));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public async Task Missing_model_option_or_text_is_an_error()
    {
        Assert.NotEqual(0, (await Run("tokenize", "--json", "x")).ExitCode);
        Assert.Equal(1, (await Run("tokenize", "--model", _byt5Dir, "--json")).ExitCode);
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public async Task T5_model_folder_gives_hf_ids()
    {
        var dir = SharedData.Require(T5Fixture);
        var (rc, stdout) = await Run("tokenize", "--model", dir, "--json", "--", "The <extra_id_0> walks in <extra_id_1> park");
        Assert.Equal(0, rc);
        Assert.Equal([37, 32099, 10681, 16, 32098, 2447, 1], SingleJsonArray(stdout));
        (rc, stdout) = await Run("tokenize", "--model", dir, "Hello world");
        Assert.Equal(0, rc);
        Assert.Contains("▁Hello", stdout);
        Assert.Contains("8774", stdout);
    }

    /// <summary>The built program, with a real argv: exit code, stdout and the error line on stderr.</summary>
    [Fact]
    public async Task Built_program_handles_separator_and_reports_errors()
    {
        var (rc, stdout, _) = await RunProcess("tokenize", "--model", _byt5Dir, "--json", "--", "-42 hi");
        Assert.Equal(0, rc);
        Assert.Equal(_bytes.Encode("-42 hi"), SingleJsonArray(stdout));

        var missing = Path.Combine(_byt5Dir, "nope");
        string stderr;
        (rc, stdout, stderr) = await RunProcess("tokenize", "--model", missing, "x");
        Assert.Equal(1, rc);
        Assert.Equal("", stdout);
        Assert.Contains($"error: --model {missing}: folder not found", stderr);
    }

    static async Task<(int, string, string)> RunProcess(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "stepdistill.dll");
        Assert.True(File.Exists(dll), $"missing {dll}");
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout, await stderr);
    }
}
