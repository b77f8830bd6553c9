using Spectre.Console;
using Spectre.Console.Cli;

namespace StepDistill.Cli.Tests;

/// <summary>Runs the real command tree in-process with stdout captured (progress and messages go to stderr).</summary>
internal static class CliHarness
{
    public static async Task<(int ExitCode, string Stdout, string Stderr)> Run(params string[] args)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        var app = new CommandApp();
        app.Configure(config =>
        {
            App.Configure(config);
            config.Settings.Console = console;
        });
        var previousError = Console.Error;
        var error = new StringWriter();
        Console.SetError(error);
        try
        {
            var rc = await CliRunner.RunAsync(app, args);
            return (rc, writer.ToString(), error.ToString());
        }
        finally
        {
            Console.SetError(previousError);
        }
    }
}
