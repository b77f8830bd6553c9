using System.Net;
using System.Runtime.CompilerServices;
using StepDistill.Inference;

namespace StepDistill.Serving.Tests;

/// <summary>Overload, readiness, timeouts and metrics.</summary>
public sealed class OverloadTests
{
    [Fact]
    public async Task More_requests_than_the_queue_holds_get_429_with_Retry_After_and_every_accepted_one_is_right()
    {
        var options = TinyStudent.Options with { MaxQueueLength = 4, MaxBatchSize = 2, MaxWait = TimeSpan.Zero, MaxNewTokens = 24 };
        var inputs = TinyStudent.MixedInputs(96);
        Dictionary<string, string> expected = [];
        using (var local = DistilledModel.Load(TinyStudent.Folder, options))
            foreach (var x in inputs.Distinct()) expected[x] = await local.PredictAsync(x);

        await using var server = await TestServer.StartAsync(options, new ServerOptions { ModelName = "overload-test" });
        var results = await Task.WhenAll(inputs.Select(async x => (Input: x, R: await server.PostAsync("v1/chat/completions", TestServer.ChatBody(x, model: "overload-test")))));
        var ok = results.Where(r => r.R.Status == 200).ToList();
        var refused = results.Where(r => r.R.Status == 429).ToList();
        Assert.Equal(results.Length, ok.Count + refused.Count); // nothing else: no 5xx, no crash
        Assert.NotEmpty(refused);
        Assert.NotEmpty(ok);
        Assert.All(refused, r =>
        {
            Assert.Equal("1", r.R.Response.Headers.GetValues("Retry-After").Single());
            Assert.Equal("queue_full", (string?)r.R.Json!["error"]!["code"]);
        });
        Assert.All(ok, r => Assert.Equal(expected[r.Input], (string?)r.R.Json!["choices"]![0]!["message"]!["content"]));

        // Still up and serving; the metrics saw the refusals.
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync(new Uri(server.Root, "health"))).StatusCode);
        Assert.Equal(200, (await server.PostAsync("v1/chat/completions", TestServer.ChatBody(inputs[0], model: "overload-test"))).Status);
        var metrics = await server.Http.GetStringAsync(new Uri(server.Root, "metrics"));
        var lines429 = metrics.Split('\n').Where(l => l.StartsWith("stepdistill_server_requests", StringComparison.Ordinal) && l.Contains("model=\"overload-test\"") && l.Contains("status=\"429\"")).ToList();
        Assert.Equal(refused.Count, lines429.Sum(l => double.Parse(l.Split(' ').Last(), System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task Metrics_are_Prometheus_text_with_requests_latency_batch_sizes_and_queue_depth()
    {
        // A model name of its own: servers of other tests in this process export through the same meter names.
        await using var server = await TestServer.StartAsync(server: new ServerOptions { ModelName = "metrics-test" });
        foreach (var x in TinyStudent.MixedInputs(3)) Assert.Equal(200, (await server.PostAsync("v1/chat/completions", TestServer.ChatBody(x, model: "metrics-test"))).Status);
        var resp = await server.Http.GetAsync(new Uri(server.Root, "metrics"));
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        Assert.StartsWith("text/plain", resp.Content.Headers.ContentType!.MediaType);
        var text = await resp.Content.ReadAsStringAsync();
        Assert.Contains("# TYPE stepdistill_server_requests_total counter", text);
        Assert.Equal(3, text.Split('\n').Where(l => l.StartsWith("stepdistill_server_requests_total{", StringComparison.Ordinal)
                                                     && l.Contains("model=\"metrics-test\"") && l.Contains("route=\"/v1/chat/completions\"") && l.Contains("status=\"200\""))
                              .Sum(l => double.Parse(l.Split(' ').Last(), System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Contains("stepdistill_server_request_duration_seconds_bucket{", text);
        Assert.True(Prometheus.Sum(text, "stepdistill_inference_batch_size", "_count") >= 1, text);
        Assert.Contains("stepdistill_inference_queue_depth", text);
    }

    [Fact]
    public async Task Health_is_503_until_the_model_is_loaded_then_200()
    {
        var release = new TaskCompletionSource();
        var logs = new LogCapture();
        await using var s = StudentServer.Create(async ct =>
        {
            await release.Task.WaitAsync(ct);
            return await DistilledModel.LoadAsync(TinyStudent.Folder, TinyStudent.Options, cancellationToken: ct);
        }, new ServerOptions { Urls = ["http://127.0.0.1:0"] });
        var server = await TestServer.StartedAsync(s, logs, waitReady: false);
        var health = await server.Http.GetAsync(new Uri(server.Root, "health"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal("model_loading", (string?)System.Text.Json.Nodes.JsonNode.Parse(await health.Content.ReadAsStringAsync())!["error"]!["code"]);
        var early = await server.PostAsync("v1/chat/completions", TestServer.ChatBody("hi"));
        Assert.Equal(503, early.Status);
        Assert.True(early.Response.Headers.Contains("Retry-After"));

        release.SetResult();
        await s.WaitUntilReadyAsync();
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync(new Uri(server.Root, "health"))).StatusCode);
        Assert.Equal(200, (await server.PostAsync("v1/chat/completions", TestServer.ChatBody("hi"))).Status);
        server.Http.Dispose();
    }

    [Fact]
    public async Task A_request_over_the_time_limit_gets_504_in_OpenAI_shape()
    {
        var logs = new LogCapture();
        await using var s = new StudentServer(_ => Task.FromResult<IServedModel>(new NeverAnswers()),
                                              new ServerOptions { Urls = ["http://127.0.0.1:0"], RequestTimeout = TimeSpan.FromMilliseconds(300) }, null, false);
        var server = await TestServer.StartedAsync(s, logs);
        var (status, json, _) = await server.PostAsync("v1/chat/completions", TestServer.ChatBody("hi", model: "never"));
        Assert.Equal(504, status);
        Assert.Equal("timeout", (string?)json!["error"]!["code"]);
        server.Http.Dispose();
    }

    /// <summary>A model that waits until cancelled: the only way to reach the timeout without a timed test.</summary>
    sealed class NeverAnswers : IServedModel
    {
        public string Id => "never";
        public bool CanExplain => false;
        public int MaxNewTokens => 8;
        public int MaxInputTokens => 100;
        public int CountInputTokens(string input, bool rationale = false) => input.Length;
        public async Task<IReadOnlyList<ServedResult>> CompleteAsync(IReadOnlyList<string> inputs, bool rationale, int? maxNewTokens, CancellationToken ct)
        {
            await Task.Delay(Timeout.Infinite, ct);
            throw new InvalidOperationException("unreachable");
        }
        public async IAsyncEnumerable<ServedDelta> StreamAsync(string input, int maxNewTokens, [EnumeratorCancellation] CancellationToken ct)
        {
            await Task.Delay(Timeout.Infinite, ct);
            yield break;
        }
        public bool IsQueueFull(Exception e) => false;
        public void Dispose() { }
    }
}
