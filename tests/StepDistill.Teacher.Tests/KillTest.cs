using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using StepDistill.Tests;
using static StepDistill.Teacher.Tests.TestUtil;

namespace StepDistill.Teacher.Tests;

/// <summary>The real CLI process, killed with SIGKILL part-way through a run, then restarted.</summary>
public class KillTest
{
    static string CliDll => typeof(KillTest).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliDll").Value!;

    const int Inputs = 300, Concurrency = 8;

    static ChildCli Start(FakeOpenAIServer server, TempDir dir) => ChildCli.Start(CliDll,
    [
        "annotate", "--teacher", "openai:teacher-model", "--endpoint", server.BaseUri.ToString(),
        "--api-key-env", "STEPDISTILL_TEST_KEY_UNSET", "--prompt", "svamp", "--input", dir.File("in.jsonl"),
        "--output", dir.File("out.jsonl"), "--concurrency", Concurrency.ToString(), "--timeout", "30", "--progress-interval", "60",
    ]);

    static int CompleteLines(string path)
    {
        if (!File.Exists(path)) return 0;
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var count = 0; int b;
        while ((b = fs.ReadByte()) >= 0) if (b == '\n') count++;
        return count;
    }

    [Fact]
    public async Task Killed_run_resumes_with_every_input_once_the_same_records_and_no_call_paid_twice()
    {
        Assert.True(File.Exists(CliDll), $"CLI not built at {CliDll}");
        var run = 0; // 0: uninterrupted reference, 1: the run that is killed, 2: the restarted run
        var firstRunItems = new System.Collections.Concurrent.ConcurrentBag<int>();
        var secondRunItems = new System.Collections.Concurrent.ConcurrentBag<int>();
        // Past 150 requests the killed run's answers are held back (far beyond the test's bounds): it can never
        // finish first, however slow or loaded the machine; the kill window is made by the server, not by timing.
        var killedRunRequests = 0;
        await using var server = new FakeOpenAIServer(r =>
        {
            var i = ItemOf(r);
            var phase = Volatile.Read(ref run);
            if (phase == 1)
            {
                firstRunItems.Add(i);
                if (Interlocked.Increment(ref killedRunRequests) > 150) return Reply.Completion(GoodAnswer(i), delay: TimeSpan.FromMinutes(10));
            }
            else if (phase == 2) secondRunItems.Add(i);
            return Reply.Completion(GoodAnswer(i), delay: TimeSpan.FromMilliseconds(30));
        });

        // The records of an uninterrupted run against the same server (answers depend on the input only).
        List<string> expected;
        using (var refDir = new TempDir())
        {
            WriteInputs(refDir.File("in.jsonl"), Inputs);
            using var reference = Start(server, refDir);
            Assert.Equal(0, await reference.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            expected = ReadOutput(refDir.File("out.jsonl")).Select(r => r.ToJsonString()).Order(StringComparer.Ordinal).ToList();
        }
        var referenceRequests = server.Requests.Count;
        Volatile.Write(ref run, 1);

        using var dir = new TempDir();
        WriteInputs(dir.File("in.jsonl"), Inputs);
        var output = dir.File("out.jsonl");

        using (var first = Start(server, dir))
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (CompleteLines(output) < 100 && !first.HasExited && DateTime.UtcNow < deadline) await Task.Delay(10);
            Assert.False(first.HasExited, "the first run ended before it could be killed");
            first.Signal(ChildCli.SIGKILL);
            await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }
        Volatile.Write(ref run, 2);

        var writtenAtKill = ReadIds(output, tolerateTornLastLine: true);
        var cachedAtKill = CachedIds(dir.File("out.jsonl.cache.sqlite"));
        Assert.InRange(writtenAtKill.Count, 100, Inputs - 1);
        Assert.Subset(cachedAtKill, writtenAtKill);

        using (var second = Start(server, dir))
        {
            Assert.Equal(0, await second.WaitForExitAsync(TimeSpan.FromSeconds(40)));
        }

        var records = ReadOutput(output);
        Assert.Equal(Inputs, records.Count);
        Assert.Equal(expected, records.Select(r => r.ToJsonString()).Order(StringComparer.Ordinal).ToList()); // contents, not only the count
        Assert.Equal(Enumerable.Range(0, Inputs).Select(i => $"item-{i}").Order(), records.Select(r => (string)r["id"]!).Order());
        Assert.All(records, r => Assert.Equal("ok", (string?)r["status"]));

        var again = secondRunItems.Select(i => $"item-{i}").ToHashSet();
        Assert.Empty(again.Intersect(cachedAtKill));   // never asked again for a recorded answer
        var askedTwice = firstRunItems.Distinct().Where(i => secondRunItems.Contains(i)).ToList();
        Assert.InRange(askedTwice.Count, 0, Concurrency); // only what was in flight at the kill
        Assert.Equal(referenceRequests + Inputs + askedTwice.Count, server.Requests.Count);
    }

    static HashSet<string> ReadIds(string path, bool tolerateTornLastLine)
    {
        var text = File.ReadAllText(path);
        var lines = text.Split('\n');
        var complete = tolerateTornLastLine ? lines[..^1] : lines; // after the last '\n' is a torn line or ""
        return complete.Where(l => l.Length > 0).Select(l => (string)JsonNode.Parse(l)!["id"]!).ToHashSet();
    }

    static HashSet<string> CachedIds(string path)
    {
        using var db = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT input_id FROM completions";
        using var r = cmd.ExecuteReader();
        var ids = new HashSet<string>();
        while (r.Read()) ids.Add(r.GetString(0));
        return ids;
    }
}
