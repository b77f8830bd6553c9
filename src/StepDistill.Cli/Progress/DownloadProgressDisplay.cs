using Spectre.Console;
using StepDistill.Student.Hub;

namespace StepDistill.Cli.Progress;

/// <summary>
/// Shows <see cref="ModelResolver"/> downloads on a console: one Spectre.Console progress bar per file on an
/// interactive terminal, plain lines (start and end of each file) otherwise, so logs stay readable.
/// </summary>
internal static class DownloadProgressDisplay
{
    /// <summary>Resolves <paramref name="modelArg"/> while drawing download progress on <paramref name="console"/>
    /// (default: <see cref="AnsiConsole.Console"/>). Nothing is drawn when no file is downloaded.</summary>
    public static async Task<string> ResolveWithProgressAsync(string modelArg, HubOptions? options = null,
        IAnsiConsole? console = null, CancellationToken ct = default)
    {
        console ??= AnsiConsole.Console;
        return await ConsoleProgress.RunAsync(console,
            [new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(),
                new RemainingTimeColumn()],
            ctx => ModelResolver.ResolveAsync(modelArg, options, ctx is null ? new PlainLines(console) : new Bars(ctx), ct)).ConfigureAwait(false);
    }

    /// <summary>Updates one bar per file synchronously (Progress&lt;T&gt; would post updates late and out of order).</summary>
    sealed class Bars(ProgressContext ctx) : IProgress<HubDownloadProgress>
    {
        readonly Dictionary<string, ProgressTask> _tasks = new(StringComparer.Ordinal);

        public void Report(HubDownloadProgress p)
        {
            lock (_tasks)
            {
                if (!_tasks.TryGetValue(p.FileName, out var task))
                {
                    task = ctx.AddTask(Markup.Escape(p.FileName), maxValue: Math.Max(1, p.TotalBytes ?? 1));
                    _tasks[p.FileName] = task;
                }
                if (p.TotalBytes is { } total) task.MaxValue = Math.Max(1, total);
                task.Value = p.Completed ? task.MaxValue : p.BytesDone;
                if (p.Completed) task.StopTask();
            }
        }
    }

    sealed class PlainLines(IAnsiConsole console) : IProgress<HubDownloadProgress>
    {
        readonly HashSet<string> _started = new(StringComparer.Ordinal);

        public void Report(HubDownloadProgress p)
        {
            lock (_started)
            {
                var size = p.TotalBytes is { } t ? $" ({FormatBytes(t)})" : "";
                if (!p.Completed && _started.Add(p.FileName))
                    console.WriteLine(p.BytesDone > 0
                        ? $"resuming {p.RepoId}/{p.FileName}{size} at {FormatBytes(p.BytesDone)}"
                        : $"downloading {p.RepoId}/{p.FileName}{size}");
                else if (p.Completed && _started.Remove(p.FileName))
                    console.WriteLine($"done {p.RepoId}/{p.FileName}");
            }
        }
    }

    internal static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.00} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / (double)(1L << 10):0.0} KiB",
        _ => $"{bytes} B",
    };
}
