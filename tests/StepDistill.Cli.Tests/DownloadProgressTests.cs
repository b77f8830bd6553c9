using Spectre.Console;
using StepDistill.Cli.Progress;
using StepDistill.Student.Tests.Hub;

namespace StepDistill.Cli.Tests;

/// <summary>The CLI's download display (moved from the Student library with Spectre.Console).</summary>
public class DownloadProgressTests
{
    [Fact]
    public async Task Without_a_terminal_progress_is_written_as_plain_lines()
    {
        using var tmp = new TempDir();
        using var hub = new FakeHub(HubTestData.TinyT5());
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Interactive = InteractionSupport.No,
            Ansi = AnsiSupport.No,
        });

        var snapshot = await DownloadProgressDisplay.ResolveWithProgressAsync("test-org/tiny-t5",
            HubTestData.Options(hub.Endpoint, tmp.Path), console);

        var text = output.ToString();
        Assert.True(File.Exists(Path.Combine(snapshot, "model.safetensors")));
        Assert.Contains("downloading test-org/tiny-t5/model.safetensors (293.0 KiB)", text);
        Assert.Contains("done test-org/tiny-t5/model.safetensors", text);
        Assert.Contains("done test-org/tiny-t5/config.json", text);
    }
}
