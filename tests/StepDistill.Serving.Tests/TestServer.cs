using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using StepDistill.Inference;
using TorchSharp;

namespace StepDistill.Serving.Tests;

/// <summary>A from-scratch tiny step-by-step student (byte tokenizer), saved once per test run: loads in well under a second.</summary>
internal static class TinyStudent
{
    static readonly Lazy<string> Lazy = new(Create);
    public static string Folder => Lazy.Value;

    /// <summary>The model options the tests serve with (short answers so that every test takes seconds).</summary>
    public static DistilledModelOptions Options { get; } = new()
    {
        Device = "cpu", MaxNewTokens = 12, MaxRationaleTokens = 16, MaxInputLength = 128, MaxBatchSize = 8,
        MaxWait = TimeSpan.FromMilliseconds(5), ModelId = "tiny-student",
    };

    static string Create()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"stepdistill-serving-tests-{Environment.ProcessId}", "tiny");
        using (var student = T5Student.Create("tiny", "byte", seed: 7, torch.CPU))
        {
            // A random student at HF's initial scale emits pad, sentinel or non-ASCII byte tokens, or one character
            // over and over. Larger weights, printable ASCII only and a stronger end token make its answers varied
            // text of varied lengths that depends on the input (54 distinct answers of 64 inputs), which the tests need.
            using (torch.no_grad())
            {
                foreach (var (name, p) in student.Model.named_parameters())
                    if (!name.Contains("layer_norm") && name != "shared.weight") p.mul_(3.0);
                var shared = student.Model.named_parameters().Single(p => p.name == "shared.weight").parameter;
                for (var id = 0; id < shared.shape[0]; id++)
                {
                    var printable = id >= 3 + 32 && id <= 3 + 126;
                    if (id == 1) shared[id].mul_(1.5);
                    else if (!printable) shared[id].zero_();
                }
            }
            student.Save(dir, new StudentInfo("step-by-step", "teacher", StudentInfo.PredictPrefix));
        }
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(Path.GetDirectoryName(dir)!, true); } catch (IOException) { } };
        return dir;
    }

    /// <summary>Inputs of mixed lengths (1 to ~100 bytes).</summary>
    public static IReadOnlyList<string> MixedInputs(int n) => Enumerable.Range(0, n)
        .Select(i => $"q{i}: " + string.Concat(Enumerable.Repeat("Ann has 3 cats and ", i % 5)) + $"{i} dogs?")
        .ToList();
}

/// <summary>Every log line the server wrote, for checking that no secret reached a log.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();
    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
    public void Dispose() { }
    public string All => string.Join("\n", Lines);

    sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull { owner.Lines.Enqueue($"scope {category}: {state}"); return null; }
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var sb = new StringBuilder($"{logLevel} {category}: {formatter(state, exception)}");
            if (state is IEnumerable<KeyValuePair<string, object?>> kv) foreach (var (k, v) in kv) sb.Append($" | {k}={v}");
            if (exception is not null) sb.Append(" | ").Append(exception);
            owner.Lines.Enqueue(sb.ToString());
        }
    }
}

/// <summary>A <see cref="StudentServer"/> on a random loopback port, with an HTTP client and captured logs.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    public required StudentServer Server { get; init; }
    public required LogCapture Logs { get; init; }
    public required Uri Root { get; init; }
    public Uri V1 => new(Root, "v1");
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(60) };

    public static Task<TestServer> StartAsync(DistilledModelOptions? model = null, ServerOptions? server = null) =>
        StartAsync(ct => DistilledModel.LoadAsync(TinyStudent.Folder, model ?? TinyStudent.Options, cancellationToken: ct), server);

    public static async Task<TestServer> StartAsync(Func<CancellationToken, Task<DistilledModel>> load, ServerOptions? server = null)
    {
        var logs = new LogCapture();
        var s = StudentServer.Create(load, (server ?? new ServerOptions()) with { Urls = ["http://127.0.0.1:0"] }, l =>
        {
            l.AddProvider(logs);
            l.SetMinimumLevel(LogLevel.Trace);
        });
        return await StartedAsync(s, logs);
    }

    internal static async Task<TestServer> StartedAsync(StudentServer s, LogCapture logs, bool waitReady = true)
    {
        await s.StartAsync();
        if (waitReady) await s.WaitUntilReadyAsync();
        var root = s.Addresses.Single();
        Assert.Equal("127.0.0.1", root.Host);
        return new TestServer { Server = s, Logs = logs, Root = root };
    }

    public async Task<(int Status, JsonNode? Json, HttpResponseMessage Response)> PostAsync(string path, string body, string contentType = "application/json", string? key = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, new Uri(Root, path)) { Content = new StringContent(body, Encoding.UTF8) };
        req.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        if (key is not null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var resp = await Http.SendAsync(req);
        var text = await resp.Content.ReadAsStringAsync();
        JsonNode? json = null;
        try { json = text.Length > 0 ? JsonNode.Parse(text) : null; } catch (System.Text.Json.JsonException) { }
        return ((int)resp.StatusCode, json, resp);
    }

    public static string ChatBody(string input, string model = "tiny-student", int? maxTokens = null) =>
        new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = input }),
            ["max_tokens"] = maxTokens,
        }.ToJsonString();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }
}

/// <summary>The real CLI (bin of src/StepDistill.Cli) as a child process.</summary>
internal static class Cli
{
    public static string Dll => typeof(Cli).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CliDll").Value!;
}
