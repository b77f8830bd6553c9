using Spectre.Console;
using Spectre.Console.Cli;

namespace StepDistill.Cli;

/// <summary>Runs the command app and turns known failures into one clear line and exit code 1.</summary>
internal static class CliRunner
{
    public static async Task<int> RunAsync(CommandApp app, string[] args)
    {
        try
        {
            return await app.RunAsync(args);
        }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]Cancelled.[/]");
            return 130;
        }
        catch (CommandParseException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (CommandRuntimeException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is StepDistillException or IOException or InvalidDataException or FormatException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
