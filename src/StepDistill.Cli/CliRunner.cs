using System.Diagnostics;
using System.Runtime.InteropServices;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Experiments.Runner;

namespace StepDistill.Cli;

/// <summary>Runs the command app and turns known failures into one clear line and exit code 1.</summary>
internal static class CliRunner
{
    // Spectre.Console.Cli 0.57.2 re-tokenizes what follows "--": it drops empty strings, turns "-42 hi" into
    // "-" and rejects "-" or "--x=3" with a parse error. So the runner keeps everything after the first "--"
    // away from the parser and hands it to verbs verbatim. AsyncLocal keeps parallel in-process runs apart.
    static readonly AsyncLocal<string[]?> AfterSeparator = new();

    /// <summary>The arguments after the first <c>--</c>, verbatim; null when there was no <c>--</c>.</summary>
    public static IReadOnlyList<string>? ArgumentsAfterSeparator => AfterSeparator.Value;

    static readonly CancellationTokenSource CtrlC = new();
    static int ctrlCWired;
    static PosixSignalRegistration? sigterm;

    /// <summary>The exit status after a stop by signal: 130 for SIGINT (Ctrl-C), 143 for SIGTERM, as shells report them.</summary>
    public static int SignalExitCode { get; private set; } = 130;

    /// <summary>
    /// A token cancelled by Ctrl-C or SIGTERM (first signal: stop cleanly, e.g. save a checkpoint or finish the
    /// records in flight; a second one: exit at once), linked with <paramref name="other"/>.
    /// </summary>
    public static CancellationToken Cancellation(CancellationToken other = default)
    {
        if (Interlocked.Exchange(ref ctrlCWired, 1) == 0)
        {
            Console.CancelKeyPress += (_, e) =>
            {
                if (CtrlC.IsCancellationRequested) return; // second Ctrl-C: let the process end
                e.Cancel = true;
                Stop(130, "Stopping (Ctrl-C again to exit at once)...");
            };
            sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
            {
                if (CtrlC.IsCancellationRequested) return; // a second SIGTERM ends the process
                ctx.Cancel = true;
                Stop(143, "Stopping on SIGTERM (send it again to exit at once)...");
            });
        }
        return other.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(CtrlC.Token, other).Token : CtrlC.Token;
    }

    static void Stop(int exitCode, string message)
    {
        SignalExitCode = exitCode;
        Console.Error.WriteLine(message);
        CtrlC.Cancel();
    }

    /// <summary>
    /// A child of the experiment runner stops at once when its parent dies (its standard input closes): an orphan
    /// would go on writing the cell that a re-run trains again. State on disk is crash-safe, so a hard stop is fine.
    /// </summary>
    static void ExitWithParent()
    {
        if (Environment.GetEnvironmentVariable(ExperimentRunner.ExitWithParentVariable) != "1") return;
        new Thread(() =>
        {
            using var stdin = Console.OpenStandardInput();
            var buffer = new byte[256];
            try { while (stdin.Read(buffer) > 0) { } } catch (IOException) { }
            Process.GetCurrentProcess().Kill();
        })
        { IsBackground = true, Name = "exit-with-parent" }.Start();
    }

    /// <summary>
    /// Spectre's "Failed to convert 'x' to Nullable`1." names neither the option nor what was expected: find the
    /// option the value was given to and say what it takes (every typed option here is numeric).
    /// </summary>
    internal static string ExplainConversion(string message, IReadOnlyList<string> args)
    {
        var m = System.Text.RegularExpressions.Regex.Match(message, @"^Failed to convert '(.*)' to ([\w`]+)\.?$");
        if (!m.Success) return message;
        var value = m.Groups[1].Value;
        var kind = m.Groups[2].Value switch
        {
            "Int32" or "Int64" or "UInt32" or "UInt64" or "Int16" => "a whole number",
            "Boolean" => "true or false",
            _ => "a number",
        };
        string? option = null;
        for (var i = 0; i < args.Count && option is null; i++)
        {
            if (args[i] == value && i > 0 && args[i - 1].StartsWith('-')) option = args[i - 1];
            else if (args[i].StartsWith('-') && args[i].EndsWith("=" + value, StringComparison.Ordinal)) option = args[i][..args[i].IndexOf('=')];
        }
        return option is null ? $"'{value}' is not {kind}" : $"{option} {value}: not {kind}";
    }

    public static async Task<int> RunAsync(CommandApp app, string[] args)
    {
        int separator = Array.IndexOf(args, "--");
        AfterSeparator.Value = separator < 0 ? null : args[(separator + 1)..];
        if (separator >= 0) args = args[..separator];
        ExitWithParent();
        try
        {
            return await app.RunAsync(args);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("Cancelled.");
            return SignalExitCode;
        }
        catch (CommandParseException e)
        {
            Console.Error.WriteLine($"error: {ExplainConversion(e.Message, args)}");
            return 2;
        }
        catch (CommandRuntimeException e)
        {
            Console.Error.WriteLine($"error: {ExplainConversion(e.Message, args)}");
            return 2;
        }
        catch (Exception e) when (e is StepDistillException or IOException or InvalidDataException or FormatException
                                       or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
