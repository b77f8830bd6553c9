using Spectre.Console;

namespace StepDistill.Cli.Progress;

/// <summary>
/// The CLI's one way to show a long job (training, downloads, annotation): a Spectre.Console progress display on an
/// interactive terminal, timestamped plain lines on stderr otherwise, so CI logs show progress too. Libraries report
/// through their observer interfaces (<c>ITrainingObserver</c>, <c>IProgress&lt;T&gt;</c>, a log callback); only this
/// folder draws them.
/// </summary>
internal static class ConsoleProgress
{
    /// <summary>True when progress bars can be drawn on <paramref name="console"/>.</summary>
    public static bool Interactive(IAnsiConsole console) => console.Profile.Capabilities.Interactive;

    /// <summary>Writes one log line to stderr: <c>[HH:mm:ss] line</c>.</summary>
    public static void Log(string line) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}");

    /// <summary>A log callback for libraries that take one (<see cref="Log"/>).</summary>
    public static Action<string> Logger { get; } = Log;

    /// <summary>
    /// Runs <paramref name="work"/> under a progress display with <paramref name="columns"/> when <paramref name="console"/>
    /// is interactive (the context is passed in), or plainly with a null context otherwise.
    /// </summary>
    public static async Task<T> RunAsync<T>(IAnsiConsole console, ProgressColumn[] columns, Func<ProgressContext?, Task<T>> work)
    {
        if (!Interactive(console)) return await work(null).ConfigureAwait(false);
        T result = default!;
        await console.Progress().AutoClear(false).Columns(columns)
            .StartAsync(async ctx => result = await work(ctx).ConfigureAwait(false)).ConfigureAwait(false);
        return result;
    }
}
