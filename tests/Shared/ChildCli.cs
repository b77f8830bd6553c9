using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace StepDistill.Tests;

/// <summary>
/// The real CLI (<c>dotnet stepdistill.dll ...</c>) as a child process: its output lines are collected, and a test
/// waits for observable progress (a line, a file) before it signals or kills it, never for a fixed time.
/// </summary>
public sealed class ChildCli : IDisposable
{
    readonly Process process;
    readonly ConcurrentQueue<string> lines = new();
    readonly SemaphoreSlim newLine = new(0);

    /// <summary>Every line written to stdout and stderr so far.</summary>
    public IReadOnlyCollection<string> Lines => lines;
    public string Output => string.Join('\n', lines);
    public int Id => process.Id;
    public bool HasExited => process.HasExited;
    public int ExitCode => process.ExitCode;

    ChildCli(Process p)
    {
        process = p;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) { lines.Enqueue(e.Data); newLine.Release(); } };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lines.Enqueue(e.Data); newLine.Release(); } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
    }

    /// <summary>
    /// A process started in the background by a shell without job control (some CI runners, <c>cmd &amp;</c> in a
    /// script) ignores SIGINT, and its children inherit that, so .NET in them never sees Ctrl-C. The default action
    /// is restored here before children are started; a handler already installed is left alone.
    /// </summary>
    static void MakeSigintDeliverable()
    {
        if (!OperatingSystem.IsLinux()) return;
        var previous = SetSignal(SIGINT, 0 /* SIG_DFL */);
        if (previous != 1 /* SIG_IGN */) SetSignal(SIGINT, previous);
    }

    [DllImport("libc", EntryPoint = "signal")]
    static extern nint SetSignal(int signal, nint handler);

    /// <summary>Starts <paramref name="cliDll"/> with <paramref name="args"/> and extra environment variables.</summary>
    public static ChildCli Start(string cliDll, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        MakeSigintDeliverable();
        if (!File.Exists(cliDll)) throw new FileNotFoundException($"CLI not built at {cliDll}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(cliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        return new ChildCli(Process.Start(psi)!);
    }

    /// <summary>Runs to the end (bounded) and returns the exit code.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string cliDll, IEnumerable<string> args,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        using var child = Start(cliDll, args, environment);
        var code = await child.WaitForExitAsync(timeout ?? TimeSpan.FromMinutes(3));
        return (code, child.Output);
    }

    /// <summary>Waits for the process to end (killing it and failing past <paramref name="timeout"/>).</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the CLI did not finish within {timeout.TotalSeconds:0} s; output:\n{Output}");
        }
        process.WaitForExit(); // drains the output events
        return process.ExitCode;
    }

    /// <summary>Waits until a line matches, or fails when the process ends first or <paramref name="timeout"/> passes.</summary>
    public async Task WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!lines.Any(match))
        {
            if (process.HasExited && !lines.Any(match))
            {
                process.WaitForExit();
                if (lines.Any(match)) return;
                throw new InvalidOperationException($"the CLI ended (exit {process.ExitCode}) before the awaited line; output:\n{Output}");
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"no awaited line within {timeout.TotalSeconds:0} s; output:\n{Output}");
            await newLine.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(200, left.TotalMilliseconds)));
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds (polling an observable effect, e.g. a file), bounded.</summary>
    public async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (process.HasExited) throw new InvalidOperationException($"the CLI ended (exit {process.ExitCode}) before {what}; output:\n{Output}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not {what} within {timeout.TotalSeconds:0} s; output:\n{Output}");
            await Task.Delay(10);
        }
    }

    public const int SIGINT = 2, SIGKILL = 9, SIGTERM = 15;

    /// <summary>Sends a POSIX signal to the process (SIGINT as Ctrl-C would, SIGTERM, SIGKILL).</summary>
    public void Signal(int signal)
    {
        if (Kill(process.Id, signal) != 0) throw new InvalidOperationException($"kill({process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int Kill(int pid, int signal);

    public void Dispose()
    {
        try { if (!process.HasExited) process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        process.Dispose();
    }
}

/// <summary>Runs a kill at every operation, a few child processes at a time, and checks each kill's rerun in turn.</summary>
public static class Sweep
{
    /// <remarks>
    /// To debug one kill point, <c>STEPDISTILL_SWEEP_POINTS=FROM-TO</c> limits the sweep to those operations (the test
    /// then fails, so that a limited sweep can never pass for a full one).
    /// </remarks>
    public static async Task RunAsync(int operations, Func<int, Task<string>> kill, Func<int, string, Task> rerunAndCheck, int parallel = 2)
    {
        var points = Enumerable.Range(1, operations);
        var only = Environment.GetEnvironmentVariable("STEPDISTILL_SWEEP_POINTS");
        if (!string.IsNullOrEmpty(only))
        {
            var range = only.Split('-').Select(int.Parse).ToArray();
            points = points.Where(k => k >= range[0] && k <= range[^1]);
        }
        using var gate = new SemaphoreSlim(parallel);
        using var backlog = new SemaphoreSlim(parallel * 2); // bounds the disk used by killed runs waiting for their rerun
        using var rerun = new SemaphoreSlim(1);
        var failures = new List<Exception>();
        await Task.WhenAll(points.Select(async k =>
        {
            await backlog.WaitAsync();
            try
            {
                string run;
                await gate.WaitAsync();
                try { run = await kill(k); }
                finally { gate.Release(); }
                await rerun.WaitAsync();
                try { await rerunAndCheck(k, run); }
                finally { rerun.Release(); }
            }
            catch (Exception e) { lock (failures) failures.Add(e); }
            finally { backlog.Release(); }
        }));
        if (failures.Count > 0)
            throw new AggregateException($"{failures.Count} of {points.Count()} kill points failed; first: {failures[0].Message}", failures);
        if (!string.IsNullOrEmpty(only)) throw new InvalidOperationException($"only kill points {only} of {operations} were tried " +
            $"(STEPDISTILL_SWEEP_POINTS); they passed");
    }
}
