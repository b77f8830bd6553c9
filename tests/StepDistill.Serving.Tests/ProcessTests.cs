using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using StepDistill.Inference;

namespace StepDistill.Serving.Tests;

/// <summary>The real CLI in child processes: <c>serve</c> stopped by SIGTERM under load, and <c>annotate</c> against <c>serve</c>.</summary>
public sealed partial class ProcessTests
{
    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int sig);
    const int SIGTERM = 15;

    static Process StartCli(ConcurrentQueue<string> stderr, IDictionary<string, string>? env, params string[] args)
    {
        Assert.True(File.Exists(Cli.Dll), $"CLI not built at {Cli.Dll}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Cli.Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) stderr.Enqueue("out: " + e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) stderr.Enqueue(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    [GeneratedRegex(@"listening on (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();

    [Fact]
    public async Task Sigterm_under_load_lets_accepted_requests_finish_and_exits_0()
    {
        const int maxNew = 12;
        var inputs = TinyStudent.MixedInputs(12);
        var options = TinyStudent.Options with { MaxBatchSize = 1, MaxNewTokens = maxNew };
        Dictionary<string, string> expected = [];
        using (var local = DistilledModel.Load(TinyStudent.Folder, options))
            foreach (var x in inputs) expected[x] = await local.PredictAsync(x);

        var log = new ConcurrentQueue<string>();
        // Batch size 1 keeps requests queued long enough for the signal to land while they wait.
        using var p = StartCli(log, null, "serve", "--model", TinyStudent.Folder, "--urls", "http://127.0.0.1:0", "--device", "cpu",
                               "--served-model-name", "tiny-student", "--batch-size", "1", "--max-new-tokens", maxNew.ToString(),
                               "--max-input-length", "128", "--drain-timeout", "300", "--timeout", "300");
        try
        {
            var root = await WaitFor(() => log.Select(l => Listening().Match(l)).FirstOrDefault(m => m.Success)?.Groups[1].Value, p, log);
            using var http = new HttpClient { BaseAddress = new Uri(root), Timeout = TimeSpan.FromSeconds(300) };
            await WaitFor(async () => (await http.GetAsync("/health")).IsSuccessStatusCode ? "ready" : null, p, log);

            var requests = inputs.Select(async x =>
            {
                try
                {
                    var resp = await http.PostAsync("/v1/chat/completions", new StringContent(TestServer.ChatBody(x), System.Text.Encoding.UTF8, "application/json"));
                    var json = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!;
                    return (Input: x, Status: (int)resp.StatusCode, Text: (string?)json["choices"]?[0]?["message"]?["content"], Error: (string?)null);
                }
                catch (HttpRequestException e) { return (Input: x, Status: 0, Text: null, Error: e.Message); }
            }).ToList();

            // Signal once several requests are in the server (the /metrics scrape itself counts as one).
            using var scrape = new HttpClient { BaseAddress = new Uri(root) };
            var inFlight = 0.0;
            await WaitFor(async () =>
            {
                inFlight = Prometheus.Sum(await scrape.GetStringAsync("/metrics"), "stepdistill_server_active_requests") - 1;
                return inFlight >= 3 ? "loaded" : null;
            }, p, log);
            Assert.Equal(0, kill(p.Id, SIGTERM));

            var results = await Task.WhenAll(requests);
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(120)), "serve did not exit after SIGTERM:\n" + string.Join("\n", log));
            Assert.Equal(0, p.ExitCode);
            var answered = results.Where(r => r.Status != 0).ToList();
            Assert.All(answered, r => Assert.Equal(200, r.Status));
            Assert.All(answered, r => Assert.Equal(expected[r.Input], r.Text));
            Assert.True(answered.Count >= inFlight, $"{answered.Count} answered, but {inFlight} were in flight at SIGTERM");
            // Whatever was not answered never got in: refused connections, not broken answers.
            Assert.All(results.Where(r => r.Status == 0), r => Assert.NotNull(r.Error));
            Assert.Contains(log, l => l.Contains("stopping: finishing requests in flight"));
        }
        finally
        {
            if (!p.HasExited) p.Kill();
        }
    }

    [Fact]
    public async Task Annotate_runs_end_to_end_against_serve_with_a_key()
    {
        const string key = "sk-annotate-e2e-key";
        await using var server = await TestServer.StartAsync(server: new ServerOptions { ApiKey = key, ModelName = "annotate-test" });
        var dir = Directory.CreateTempSubdirectory("stepdistill-serve-annotate-").FullName;
        try
        {
            var input = Path.Combine(dir, "in.jsonl");
            File.WriteAllLines(input, Enumerable.Range(0, 6).Select(i => new JsonObject { ["id"] = $"item-{i}", ["input"] = $"Ann has {i} apples and gets 1 more. How many?" }.ToJsonString()));
            var output = Path.Combine(dir, "out.jsonl");
            var log = new ConcurrentQueue<string>();
            using var p = StartCli(log, new Dictionary<string, string> { ["STEPDISTILL_SERVE_TEST_KEY"] = key },
                "annotate", "--teacher", "openai:annotate-test", "--endpoint", server.V1.ToString(), "--api-key-env", "STEPDISTILL_SERVE_TEST_KEY",
                "--prompt", "svamp", "--input", input, "--output", output, "--concurrency", "3", "--retries", "1", "--progress-interval", "60", "--timeout", "60");
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(120)), "annotate did not finish:\n" + string.Join("\n", log));
            Assert.True(p.ExitCode == 0, $"annotate exited {p.ExitCode}:\n" + string.Join("\n", log));
            var records = File.ReadAllLines(output).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!).ToList();
            Assert.Equal(Enumerable.Range(0, 6).Select(i => $"item-{i}"), records.Select(r => (string?)r["id"]).Order());
            // The student's text is whatever it is; what matters is that each call was answered, not failed.
            Assert.All(records, r => Assert.NotEqual("failed", (string?)r["status"]));
            var metrics = await server.Http.GetStringAsync(new Uri(server.Root, "metrics"));
            var chat200 = metrics.Split('\n').Where(l => l.StartsWith("stepdistill_server_requests_total{") && l.Contains("model=\"annotate-test\"") && l.Contains("/v1/chat/completions") && l.Contains("status=\"200\""))
                                 .Sum(l => double.Parse(l.Split(' ').Last(), System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(6, chat200);
            Assert.DoesNotContain(key, server.Logs.All);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    static async Task<string> WaitFor(Func<string?> probe, Process p, ConcurrentQueue<string> log) => await WaitFor(() => Task.FromResult(probe()), p, log);

    /// <summary>Polls until <paramref name="probe"/> gives a value; fails if the process exits or 120 s pass (the machine may be busy).</summary>
    static async Task<string> WaitFor(Func<Task<string?>> probe, Process p, ConcurrentQueue<string> log)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            if (p.HasExited) Assert.Fail($"the process exited ({p.ExitCode}):\n" + string.Join("\n", log));
            try { if (await probe() is { } v) return v; } catch (HttpRequestException) { }
            await Task.Delay(20);
        }
        Assert.Fail("timed out waiting:\n" + string.Join("\n", log));
        return "";
    }
}
