using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using StepDistill.Teacher.Clients;
using StepDistill.Teacher.Pipeline;
using StepDistill.Teacher.Prompts;
using static StepDistill.Teacher.Tests.TestUtil;

namespace StepDistill.Teacher.Tests;

/// <summary>The pipeline against a real HTTP server on loopback speaking the chat-completions protocol.</summary>
public class ServerTests
{
    [Fact]
    public async Task Normal_answers_are_annotated_with_all_fields()
    {
        await using var server = new FakeOpenAIServer(r => Reply.Completion(GoodAnswer(ItemOf(r)) + "\n\nQ: A made-up next question?\nA: ..."));
        using var dir = new TempDir();
        var (summary, output) = await RunAsync(server, dir, 12);

        Assert.Equal(12, output.Count);
        Assert.Equal(12, output.Select(o => (string)o["id"]!).Distinct().Count());
        foreach (var o in output)
        {
            var i = int.Parse(((string)o["id"]!)[5..]);
            Assert.Equal("ok", (string?)o["status"]);
            Assert.Equal($"( {i}.0 + 1.0 )", (string?)o["teacher_label"]);
            Assert.Equal($"Ann has {i} apples and gets 1 more, so {i} + 1 = {i + 1}.", (string?)o["rationale"]);
            Assert.Single(o["rationales"]!.AsArray());
            Assert.Contains("made-up next question", (string?)o["raw"]![0]); // raw kept whole; parsing cut it
            Assert.True((bool)o["gold_match"]!);
            Assert.Equal($"( {i}.0 + 1.0 )", (string?)o["label"]); // input fields kept
        }
        Assert.Equal(12, summary.Ok);
        Assert.Equal(12, summary.Requests);
        Assert.Equal(12 * 100, summary.InputTokens);
        Assert.Equal(1.0, summary.GoldAgreement);
        var req = server.Requests.First();
        Assert.Equal("/v1/chat/completions", req.PathAndQuery);
        Assert.Equal("Bearer no-key", req.Headers["Authorization"]);
        Assert.Equal("teacher-model", (string?)req.Json["model"]);
        Assert.Equal("\n\nQ:", (string?)req.Json["stop"]![0]);
        Assert.Equal(0.0, (double)req.Json["temperature"]!);
        Assert.Equal("system", (string?)req.Json["messages"]![0]!["role"]);
    }

    [Fact]
    public async Task Status_429_is_retried_after_the_Retry_After_delay()
    {
        var seen = new ConcurrentDictionary<int, int>();
        await using var server = new FakeOpenAIServer(r =>
        {
            var i = ItemOf(r);
            return seen.AddOrUpdate(i, 1, (_, n) => n + 1) == 1 && i == 0
                ? Reply.Error(429, new Dictionary<string, string> { ["Retry-After"] = "1" })
                : Reply.Completion(GoodAnswer(i));
        });
        using var dir = new TempDir();
        var (summary, output) = await RunAsync(server, dir, 3);

        Assert.All(output, o => Assert.Equal("ok", (string?)o["status"]));
        var item0 = server.Requests.Where(r => ItemOf(r) == 0).OrderBy(r => r.Number).ToList();
        Assert.Equal(2, item0.Count);
        // Our base delay is 5 ms; only Retry-After explains a gap of about a second.
        Assert.True(item0[1].ReceivedUtc - item0[0].ReceivedUtc >= TimeSpan.FromMilliseconds(900), $"gap {item0[1].ReceivedUtc - item0[0].ReceivedUtc}");
        Assert.Equal(1, summary.Retries);
        Assert.Equal(4, server.Requests.Count);
    }

    [Fact]
    public async Task Status_500_is_retried_and_recorded_as_failed_when_it_persists()
    {
        await using var server = new FakeOpenAIServer(r => ItemOf(r) switch
        {
            0 => Reply.Error(500), // always
            1 => r.Number <= 3 ? Reply.Error(503) : Reply.Completion(GoodAnswer(1)),
            var i => Reply.Completion(GoodAnswer(i)),
        });
        using var dir = new TempDir();
        var (summary, output) = await RunAsync(server, dir, 2, FastOptions with { Concurrency = 1 });

        var failed = output.Single(o => (string?)o["id"] == "item-0");
        Assert.Equal("failed", (string?)failed["status"]);
        Assert.StartsWith("HTTP 500", (string?)failed["error"]);
        Assert.Contains("after 4 attempts", (string?)failed["error"]);
        Assert.Null(failed["rationale"]);
        Assert.Empty(failed["raw"]!.AsArray());
        Assert.Equal(4, server.Requests.Count(r => ItemOf(r) == 0)); // 1 + MaxRetries(3)
        Assert.Equal("ok", (string?)output.Single(o => (string?)o["id"] == "item-1")["status"]);
        Assert.Equal(1, summary.Failed);
        Assert.Equal(1, summary.Ok);
    }

    [Fact]
    public async Task Zero_retries_means_one_attempt()
    {
        await using var server = new FakeOpenAIServer(_ => Reply.Error(500));
        using var dir = new TempDir();
        var (summary, output) = await RunAsync(server, dir, 1, FastOptions with { MaxRetries = 0 });
        Assert.Single(server.Requests);
        Assert.Equal("failed", (string?)output[0]["status"]);
        Assert.Equal(0, summary.Retries);
    }

    [Fact]
    public async Task Client_errors_are_not_retried()
    {
        await using var server = new FakeOpenAIServer(_ => Reply.Error(400));
        using var dir = new TempDir();
        var (_, output) = await RunAsync(server, dir, 1);
        Assert.Single(server.Requests);
        Assert.Equal("failed", (string?)output[0]["status"]);
        Assert.StartsWith("HTTP 400", (string?)output[0]["error"]);
    }

    [Fact]
    public async Task Slow_responses_past_the_timeout_are_retried_then_failed()
    {
        var oneSeen = 0;
        await using var server = new FakeOpenAIServer(r => ItemOf(r) switch
        {
            0 => Reply.Completion(GoodAnswer(0), delay: TimeSpan.FromSeconds(3)), // always too slow
            1 => Interlocked.Increment(ref oneSeen) == 1 ? Reply.Completion(GoodAnswer(1), delay: TimeSpan.FromSeconds(3)) : Reply.Completion(GoodAnswer(1)),
            var i => Reply.Completion(GoodAnswer(i)),
        });
        using var dir = new TempDir();
        var (summary, output) = await RunAsync(server, dir, 2, FastOptions with { Timeout = TimeSpan.FromMilliseconds(300), MaxRetries = 2 });

        var slow = output.Single(o => (string?)o["id"] == "item-0");
        Assert.Equal("failed", (string?)slow["status"]);
        Assert.Equal("timed out after 0.3 s (after 3 attempts)", (string?)slow["error"]);
        Assert.Equal(3, server.Requests.Count(r => ItemOf(r) == 0));
        var once = output.Single(o => (string?)o["id"] == "item-1");
        Assert.Equal("ok", (string?)once["status"]);
        Assert.Equal(2, server.Requests.Count(r => ItemOf(r) == 1));
        Assert.Equal(1, summary.Failed);
    }

    [Fact]
    public async Task Malformed_json_is_retried_then_failed_with_its_reason()
    {
        var firstForOne = 0;
        await using var server = new FakeOpenAIServer(r => ItemOf(r) switch
        {
            0 => Reply.Malformed(),
            1 => Interlocked.Increment(ref firstForOne) == 1 ? Reply.Malformed() : Reply.Completion(GoodAnswer(1)),
            var i => Reply.Completion(GoodAnswer(i)),
        });
        using var dir = new TempDir();
        var (_, output) = await RunAsync(server, dir, 2);

        var bad = output.Single(o => (string?)o["id"] == "item-0");
        Assert.Equal("failed", (string?)bad["status"]);
        Assert.StartsWith("malformed response", (string?)bad["error"]);
        Assert.Equal(4, server.Requests.Count(r => ItemOf(r) == 0));
        Assert.Equal("ok", (string?)output.Single(o => (string?)o["id"] == "item-1")["status"]);
    }

    [Fact]
    public async Task Empty_choices_fail_without_retry()
    {
        await using var server = new FakeOpenAIServer(_ => Reply.NoChoices());
        using var dir = new TempDir();
        var (_, output) = await RunAsync(server, dir, 1);
        Assert.Single(server.Requests);
        Assert.Equal("failed", (string?)output[0]["status"]);
        Assert.Equal("the server returned no choices", (string?)output[0]["error"]);
    }

    [Fact]
    public async Task Truncated_output_is_unparseable_with_raw_text_and_reason()
    {
        await using var server = new FakeOpenAIServer(_ => Reply.Completion("Ann has some apples and then she gets one more, so we add the", finish: "length"));
        using var dir = new TempDir();
        var (summary, output) = await RunAsync(server, dir, 1);
        Assert.Single(server.Requests); // a cut-off answer is an answer: asking again gives the same
        var o = output[0];
        Assert.Equal("unparseable", (string?)o["status"]);
        Assert.Contains("finish_reason=length", (string?)o["error"]);
        Assert.Equal("Ann has some apples and then she gets one more, so we add the", (string?)o["raw"]![0]);
        Assert.True((bool)o["truncated"]!);
        Assert.Null(o["teacher_label"]);
        Assert.Equal(1, summary.Unparseable);
        Assert.Equal(1, summary.SamplesUnparseable);
    }

    [Fact]
    public async Task A_rerun_asks_nothing_again_and_writes_nothing_twice()
    {
        await using var server = new FakeOpenAIServer(r => Reply.Completion(GoodAnswer(ItemOf(r))));
        using var dir = new TempDir();
        await RunAsync(server, dir, 10);
        Assert.Equal(10, server.Requests.Count);
        var (summary, output) = await RunAsync(server, dir, 10);
        Assert.Equal(10, server.Requests.Count);
        Assert.Equal(10, output.Count);
        Assert.Equal(10, summary.Skipped);
        Assert.Equal(0, summary.Written);
    }

    [Fact]
    public async Task A_lost_output_is_rebuilt_from_the_cache_without_calls()
    {
        await using var server = new FakeOpenAIServer(r => Reply.Completion(GoodAnswer(ItemOf(r))));
        using var dir = new TempDir();
        await RunAsync(server, dir, 6);
        // Keep 2 records and tear the third in the middle, as a crash during a write would.
        var lines = File.ReadAllLines(dir.File("out.jsonl"));
        File.WriteAllText(dir.File("out.jsonl"), lines[0] + "\n" + lines[1] + "\n" + lines[2][..20]);
        var (summary, output) = await RunAsync(server, dir, 6);
        Assert.True(summary.RepairedTornLine);
        Assert.Equal(6, server.Requests.Count);
        Assert.Equal(4, summary.CacheHits);
        Assert.Equal(4, summary.Written);
        Assert.Equal(6, output.Count);
        Assert.Equal(6, output.Select(o => (string)o["id"]!).Distinct().Count());
    }

    [Fact]
    public async Task Retry_failed_drops_failed_records_and_asks_again()
    {
        var fail = true;
        await using var server = new FakeOpenAIServer(r => Volatile.Read(ref fail)
            && ItemOf(r) == 2 ? Reply.Error(400) : Reply.Completion(GoodAnswer(ItemOf(r))));
        using var dir = new TempDir();
        var (first, _) = await RunAsync(server, dir, 4);
        Assert.Equal(1, first.Failed);
        Volatile.Write(ref fail, false);
        var (second, output) = await RunAsync(server, dir, 4, FastOptions with { RetryFailed = true });
        Assert.Equal(1, second.DroppedFailed);
        Assert.Equal(1, second.Written);
        Assert.Equal(4, output.Count);
        Assert.All(output, o => Assert.Equal("ok", (string?)o["status"]));
    }

    [Fact]
    public async Task Self_consistency_votes_and_keeps_the_agreeing_rationales()
    {
        // Seeds 0 and 2 say 5, seed 1 says 7: the vote picks 5 and keeps the two agreeing rationales.
        await using var server = new FakeOpenAIServer(r => (long)r.Json["seed"]! switch
        {
            1 => Reply.Completion("Wrong path. So the answer is ( 3 + 4 )."),
            var s => Reply.Completion($"Path {s}. So the answer is ( 4 + 1 )."),
        });
        using var dir = new TempDir();
        var (summary, output) = await RunAsync(server, dir, 1, FastOptions with { Samples = 3 });
        var o = output[0];
        Assert.Equal(3, server.Requests.Count);
        Assert.All(server.Requests, r => Assert.Equal(0.7, (double)r.Json["temperature"]!, 3));
        Assert.Equal("( 4.0 + 1.0 )", (string?)o["teacher_label"]);
        Assert.Equal(2, (int)o["votes"]!);
        Assert.Equal(["Path 0.", "Path 2."], o["rationales"]!.AsArray().Select(x => (string)x!).ToArray());
        Assert.Equal("Path 0.", (string?)o["rationale"]);
        Assert.Equal(3, o["raw"]!.AsArray().Count);
        Assert.Equal(3, summary.SamplesParsed);
    }

    [Fact]
    public async Task Gold_filter_keeps_only_rationales_that_match_the_label()
    {
        // item-0's gold is ( 0.0 + 1.0 ) = 1; the majority says 2, one sample says 1.
        await using var server = new FakeOpenAIServer(r => (long)r.Json["seed"]! == 2
            ? Reply.Completion("Right. So the answer is 1.")
            : Reply.Completion("Wrong. So the answer is 2."));
        using var dir = new TempDir();
        var (summary, output) = await RunAsync(server, dir, 1, FastOptions with { Samples = 3, RequireGoldMatch = true });
        Assert.Equal("ok", (string?)output[0]["status"]);
        Assert.Equal("Right.", (string?)output[0]["rationale"]);
        Assert.Equal("1.0", (string?)output[0]["teacher_label"]);
        Assert.Equal(1, summary.GoldMatches);

        await using var wrong = new FakeOpenAIServer(_ => Reply.Completion("Wrong. So the answer is 2."));
        using var dir2 = new TempDir();
        var (summary2, output2) = await RunAsync(wrong, dir2, 1, FastOptions with { RequireGoldMatch = true });
        Assert.Equal("mismatch", (string?)output2[0]["status"]);
        Assert.Null(output2[0]["rationale"]);
        Assert.Equal(1, summary2.Mismatch);
        Assert.Equal(0.0, summary2.GoldAgreement);
    }

    [Fact]
    public async Task Azure_uses_the_deployment_path_api_key_header_and_api_version()
    {
        await using var server = new FakeOpenAIServer(r => Reply.Completion(GoodAnswer(ItemOf(r))));
        using var dir = new TempDir();
        Environment.SetEnvironmentVariable("STEPDISTILL_TEST_AZURE_KEY", "azure-secret");
        using var teacher = TeacherFactory.Create("azure:my-gpt", new TeacherOptions
        {
            Endpoint = server.Root,
            ApiKeyEnv = "STEPDISTILL_TEST_AZURE_KEY", AzureApiVersion = "2024-10-21"
        });
        var input = WriteInputs(dir.File("in.jsonl"), 1);
        var summary = await new Annotator(teacher, PromptLibrary.Resolve("svamp"), FastOptions).RunAsync(input, dir.File("out.jsonl"));
        Assert.Equal(1, summary.Ok);
        var req = Assert.Single(server.Requests);
        Assert.Equal("/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21", req.PathAndQuery);
        Assert.Equal("azure-secret", req.Headers["api-key"]);
        Assert.False(req.Headers.ContainsKey("Authorization"));
    }

    [Fact]
    public async Task Cancellation_stops_the_run_and_keeps_finished_records()
    {
        await using var server = new FakeOpenAIServer(r => Reply.Completion(GoodAnswer(ItemOf(r)), delay: TimeSpan.FromMilliseconds(ItemOf(r) < 3 ? 0 : 5000)));
        using var dir = new TempDir();
        var input = WriteInputs(dir.File("in.jsonl"), 10);
        using var teacher = OpenAITeacher(server);
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p => { if (p.Done >= 3) cts.Cancel(); });
        var summary = await new Annotator(teacher, PromptLibrary.Resolve("svamp"), FastOptions with { Concurrency = 1 }).RunAsync(input,
            dir.File("out.jsonl"), progress, cts.Token);
        Assert.True(summary.Cancelled);
        var output = ReadOutput(dir.File("out.jsonl"));
        Assert.Equal(3, output.Count);
        Assert.All(output, o => Assert.Equal("ok", (string?)o["status"]));
    }

    [Fact]
    public async Task Bad_input_lines_are_reported_with_file_and_line()
    {
        using var dir = new TempDir();
        var path = dir.File("bad.jsonl");
        File.WriteAllLines(path, ["""{"id":"a","input":"x"}""", "", """{"id":"b","input":"y"""]);
        await using var server = new FakeOpenAIServer(_ => Reply.Completion("x"));
        using var teacher = OpenAITeacher(server);
        var e = await Assert.ThrowsAsync<StepDistillException>(() => new Annotator(teacher, PromptLibrary.Resolve("svamp"), FastOptions).RunAsync(path,
            dir.File("o.jsonl")));
        Assert.StartsWith($"{path}:3: malformed JSON", e.Message);
        File.WriteAllLines(path, ["""{"id":"a","input":"x"}""", """{"id":"a","input":"y"}"""]);
        e = await Assert.ThrowsAsync<StepDistillException>(() => new Annotator(teacher, PromptLibrary.Resolve("svamp"), FastOptions).RunAsync(path,
            dir.File("o.jsonl")));
        Assert.Equal($"{path}:2: duplicate id 'a' (first on line 1)", e.Message);
        File.WriteAllLines(path, ["""{"id":"a","text":"x"}"""]);
        e = await Assert.ThrowsAsync<StepDistillException>(() => new Annotator(teacher, PromptLibrary.Resolve("svamp"), FastOptions).RunAsync(path,
            dir.File("o.jsonl")));
        Assert.Equal($"{path}:1: missing required string field 'input'", e.Message);
        Assert.Empty(server.Requests);
    }

    sealed class SyncProgress(Action<AnnotateProgress> on) : IProgress<AnnotateProgress>
    {
        public void Report(AnnotateProgress value) => on(value);
    }
}
