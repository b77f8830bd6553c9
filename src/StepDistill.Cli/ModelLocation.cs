using Spectre.Console;
using StepDistill.Cli.Progress;
using StepDistill.Student.Hub;

namespace StepDistill.Cli;

/// <summary>
/// Turns a <c>--model</c> value into a local folder: an existing folder wins; otherwise a Hugging Face Hub id
/// (<c>org/name[@revision]</c>) is looked up in the shared Hugging Face cache and downloaded if missing.
/// </summary>
internal static class ModelLocation
{
    public static async Task<string> ResolveAsync(string? model, CancellationToken ct, string option = "--model")
    {
        if (string.IsNullOrWhiteSpace(model))
            throw new StepDistillException($"{option} is required: a model folder or a Hugging Face model id");
        if (Directory.Exists(model)) return Path.GetFullPath(model);
        if (File.Exists(model))
            throw new StepDistillException($"{option} {model}: is a file; give the folder that contains it");
        if (ModelResolver.LooksLikePath(model))
            throw new StepDistillException($"{option} {model}: folder not found");
        // Progress goes to stderr so that stdout stays clean for --json output.
        return await DownloadProgressDisplay.ResolveWithProgressAsync(model, console: CliConsole.Error, ct: ct);
    }

    /// <summary>Synchronous form for verbs that have no async path.</summary>
    public static string Resolve(string? model, string option = "--model") =>
        ResolveAsync(model, CancellationToken.None, option).GetAwaiter().GetResult();
}

/// <summary>The consoles the CLI writes to: results on stdout, progress and messages on stderr.</summary>
internal static class CliConsole
{
    public static IAnsiConsole Error { get; } = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
}
