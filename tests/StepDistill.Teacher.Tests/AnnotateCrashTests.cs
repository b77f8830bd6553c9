using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.Data.Sqlite;
using StepDistill.Tests;
using static StepDistill.Teacher.Tests.TestUtil;

namespace StepDistill.Teacher.Tests;

/// <summary>
/// <c>annotate</c> through the real CLI in a child process: killed at every file operation (output JSONL and SQLite
/// cache) by fault injection, interrupted by SIGINT, and run twice at once on one output. Every rerun ends with the
/// output of an uninterrupted run, and no paid call is made twice except one in flight at the kill.
/// </summary>
public class AnnotateCrashTests(Xunit.Abstractions.ITestOutputHelper log)
{
    static string CliDll => typeof(AnnotateCrashTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliDll").Value!;
    static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    static string[] Args(FakeOpenAIServer server, TempDir dir, int concurrency) =>
    [
        "annotate", "--teacher", "openai:teacher-model", "--endpoint", server.BaseUri.ToString(), "--api-key-env", "STEPDISTILL_TEST_KEY_UNSET",
        "--prompt", "svamp", "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl"), "--concurrency", concurrency.ToString(),
        "--timeout", "30", "--progress-interval", "60",
    ];

    /// <summary>A server whose answer depends only on the input, counting the requests per item.</summary>
    static FakeOpenAIServer CountingServer(ConcurrentDictionary<int, int> asked, TimeSpan delay = default, Func<TimeSpan>? hold = null) => new(r =>
    {
        var i = ItemOf(r);
        asked.AddOrUpdate(i, 1, (_, n) => n + 1);
        return Reply.Completion(GoodAnswer(i), delay: hold?.Invoke() ?? delay);
    });

    internal static HashSet<string> CachedIds(string path)
    {
        var ids = new HashSet<string>();
        if (!File.Exists(path)) return ids;
        using var db = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT name FROM sqlite_master WHERE type='table' AND name='completions'";
        if (cmd.ExecuteScalar() is null) return ids;
        cmd.CommandText = "SELECT input_id FROM completions";
        using var r = cmd.ExecuteReader();
        while (r.Read()) ids.Add(r.GetString(0));
        return ids;
    }

    [Fact]
    public async Task Annotate_killed_at_every_file_operation_reruns_to_identical_output_without_repeating_a_call()
    {
        const int Inputs = 6;
        byte[] expected;
        string[] ops;
        using (var refDir = new TempDir())
        {
            var asked = new ConcurrentDictionary<int, int>();
            await using var server = CountingServer(asked);
            WriteInputs(refDir.File("in.jsonl"), Inputs);
            var trace = refDir.File("trace");
            var (rc, output) = await ChildCli.RunAsync(CliDll, Args(server, refDir, 1), new Dictionary<string,
                string>
            { ["STEPDISTILL_FAULT_TRACE"] = trace }, Bound);
            Assert.True(rc == 0, output);
            expected = File.ReadAllBytes(refDir.File("out.jsonl"));
            ops = File.ReadAllLines(trace);
            Assert.Equal(Inputs, ops.Count(l => l.Contains(" commit ", StringComparison.Ordinal)) - 1); // schema + one per call
        }

        var kills = 0;
        var repeated = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var dirs = new ConcurrentDictionary<int, (TempDir Dir, FakeOpenAIServer Server, ConcurrentDictionary<int, int> Asked)>();
        try
        {
            await Sweep.RunAsync(ops.Length, async k =>
            {
                var dir = new TempDir();
                var asked = new ConcurrentDictionary<int, int>();
                var server = CountingServer(asked);
                dirs[k] = (dir, server, asked);
                WriteInputs(dir.File("in.jsonl"), Inputs);
                var (code, text) = await ChildCli.RunAsync(CliDll, Args(server, dir, 1), new Dictionary<string,
                    string>
                { ["STEPDISTILL_FAULT_AT"] = k.ToString() }, Bound);
                Assert.True(code == 137, $"op {k}: expected a SIGKILL at this operation, got exit {code}:\n{text}");
                Interlocked.Increment(ref kills);
                return dir.Path;
            }, async (k, _) =>
            {
                dirs.TryRemove(k, out var entry);
                var (dir, server, asked) = entry;
                try
                {
                    var cachedAtKill = CachedIds(dir.File("out.jsonl.cache.sqlite"));
                    var askedAtKill = asked.Keys.ToHashSet();
                    var (code, text) = await ChildCli.RunAsync(CliDll, Args(server, dir, 1), timeout: Bound);
                    Assert.True(code == 0, $"op {k} ({ops[k - 1]}): the rerun failed ({code}):\n{text}");
                    Assert.True(expected.AsSpan().SequenceEqual(File.ReadAllBytes(dir.File("out.jsonl"))), $"op {k} ({ops[k - 1]}): the output differs " +
                        $"from the uninterrupted run's");
                    Assert.Equal(Enumerable.Range(0, Inputs).ToHashSet(), asked.Keys.ToHashSet());
                    var twice = asked.Where(kv => kv.Value > 1).Select(kv => kv.Key).ToList();
                    // Concurrency 1: at most the one call in flight at the kill (asked, not yet recorded) is asked again.
                    Assert.True(twice.Count <= 1 && twice.All(i => askedAtKill.Contains(i) && !cachedAtKill.Contains($"item-{i}"))
                        && asked.Values.All(n => n <= 2),
                        $"op {k} ({ops[k - 1]}): calls repeated: " +
                            $"{string.Join(", ", asked.Where(kv => kv.Value > 1).Select(kv => $"item-{kv.Key} x{kv.Value}"))}");
                    Interlocked.Add(ref repeated, twice.Count);
                }
                finally
                {
                    await server.DisposeAsync();
                    dir.Dispose();
                }
            });
        }
        finally
        {
            foreach (var (_, (d, s, _)) in dirs) { await s.DisposeAsync(); d.Dispose(); }
        }
        Assert.Equal(ops.Length, kills);
        log.WriteLine($"annotate sweep: {ops.Length} operations, {kills} kills survived, {repeated} calls in flight at a kill asked again, 0 recorded " +
            $"calls repeated, {clock.Elapsed.TotalSeconds:F0} s");
    }

    [Fact]
    public async Task Sigint_keeps_every_completed_call_and_the_rerun_completes_without_repeats()
    {
        const int Inputs = 60, Concurrency = 4;
        var asked = new ConcurrentDictionary<int, int>();
        await using var server = CountingServer(asked, TimeSpan.FromMilliseconds(20));
        using var refDir = new TempDir();
        WriteInputs(refDir.File("in.jsonl"), Inputs);
        var (rc, output) = await ChildCli.RunAsync(CliDll, Args(server, refDir, Concurrency), timeout: Bound);
        Assert.True(rc == 0, output);
        var expected = ReadOutput(refDir.File("out.jsonl")).Select(r => r.ToJsonString()).Order(StringComparer.Ordinal).ToList();
        asked.Clear();

        using var dir = new TempDir();
        WriteInputs(dir.File("in.jsonl"), Inputs);
        var outFile = dir.File("out.jsonl");
        using (var child = ChildCli.Start(CliDll, Args(server, dir, Concurrency)))
        {
            await child.WaitForAsync(() => File.Exists(outFile) && File.ReadAllLines(outFile).Length >= 10, Bound, "10 records written");
            child.Signal(ChildCli.SIGINT);
            Assert.Equal(130, await child.WaitForExitAsync(Bound));
            Assert.Contains(child.Lines, l => l.StartsWith("stopped: ", StringComparison.Ordinal));
        }
        var written = ReadOutput(outFile).Select(r => (string)r["id"]!).ToHashSet();
        var cached = CachedIds(dir.File("out.jsonl.cache.sqlite"));
        Assert.InRange(written.Count, 10, Inputs - 1);
        Assert.Equal(cached.Order(), written.Order()); // every call that completed is recorded, and written
        var askedBefore = asked.ToDictionary();

        var (again, rerunLog) = await ChildCli.RunAsync(CliDll, Args(server, dir, Concurrency), timeout: Bound);
        Assert.True(again == 0, rerunLog);
        Assert.Equal(expected, ReadOutput(outFile).Select(r => r.ToJsonString()).Order(StringComparer.Ordinal).ToList());
        var twice = asked.Where(kv => kv.Value > askedBefore.GetValueOrDefault(kv.Key)
            && askedBefore.ContainsKey(kv.Key)).Select(kv => $"item-{kv.Key}").ToList();
        Assert.Empty(twice.Intersect(cached)); // no recorded call is paid for again
        Assert.InRange(twice.Count, 0, Concurrency); // only calls cut off in flight by the stop
    }

    [Fact]
    public async Task A_second_annotate_on_the_same_output_refuses_at_once_and_a_sigkill_releases_the_lock()
    {
        var asked = new ConcurrentDictionary<int, int>();
        var held = 1; // the first run's calls are answered only long after the test's bounds: it is still running
        await using var server = CountingServer(asked, hold: () => Volatile.Read(ref held) == 1 ? TimeSpan.FromMinutes(10) : TimeSpan.Zero);
        using var dir = new TempDir();
        WriteInputs(dir.File("in.jsonl"), 5);
        {
            using (var first = ChildCli.Start(CliDll, Args(server, dir, 1)))
            {
                await first.WaitForAsync(() => !asked.IsEmpty, Bound, "a call in flight"); // the first run holds the output
                var before = asked.Values.Sum();
                var (rc, output) = await ChildCli.RunAsync(CliDll, Args(server, dir, 1), timeout: Bound);
                Assert.Equal(1, rc);
                Assert.Contains("another process is writing it", output);
                Assert.DoesNotContain("   at ", output);
                Assert.Equal(before, asked.Values.Sum()); // the refused run called nothing
                Assert.False(first.HasExited);
                first.Signal(ChildCli.SIGKILL);
                await first.WaitForExitAsync(Bound);
            }
            Volatile.Write(ref held, 0);
            var (again, rerunLog) = await ChildCli.RunAsync(CliDll, Args(server, dir, 1), timeout: Bound);
            Assert.True(again == 0, rerunLog);
            Assert.Equal(5, ReadOutput(dir.File("out.jsonl")).Count);
        }
    }
}
