using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace StepDistill.Teacher.Tests;

/// <summary>One request the fake server received.</summary>
public sealed record RecordedRequest(int Number, string Method, string PathAndQuery, string Body, IReadOnlyDictionary<string, string> Headers,
    DateTime ReceivedUtc)
{
    JsonObject? _json;
    public JsonObject Json => _json ??= (JsonObject)JsonNode.Parse(Body)!;
    /// <summary>The text of the last user message (the new input, in chat style).</summary>
    public string LastUser => Json["messages"]!.AsArray().Last(m => (string?)m!["role"] == "user")!["content"] switch
    {
        JsonValue v => v.GetValue<string>(),
        JsonArray a => string.Concat(a.Select(p => (string?)p!["text"])),
        _ => "",
    };
}

/// <summary>A scripted reply: status, body, headers and a delay before answering.</summary>
public sealed record Reply(int Status, string Body, IReadOnlyDictionary<string, string>? Headers = null, TimeSpan Delay = default)
{
    public static Reply Completion(string text, string finish = "stop", int promptTokens = 100, int completionTokens = 20, TimeSpan delay = default) =>
        new(200, JsonSerializer.Serialize(new
        {
            id = "chatcmpl-test", @object = "chat.completion", created = 1700000000, model = "teacher-model",
            choices = new[] { new { index = 0, message = new { role = "assistant", content = text }, finish_reason = finish } },
            usage = new { prompt_tokens = promptTokens, completion_tokens = completionTokens, total_tokens = promptTokens + completionTokens },
        }), null, delay);

    public static Reply NoChoices() => new(200,
        """{"id":"x","object":"chat.completion","created":1700000000,"model":"teacher-model","choices":[],"usage":""" +
        """{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}""");
    public static Reply Error(int status, IReadOnlyDictionary<string, string>? headers = null) =>
        new(status, "{\"error\":{\"message\":\"scripted " + status + "\",\"type\":\"server_error\",\"code\":null}}", headers);
    public static Reply Malformed() => new(200, """{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assist""");
}

/// <summary>
/// An OpenAI chat-completions server on loopback (HttpListener), scripted per test: the script sees each
/// request (with its number, counting from 1) and returns the reply. Every request is recorded.
/// </summary>
public sealed class FakeOpenAIServer : IAsyncDisposable
{
    readonly HttpListener _listener = new();
    readonly Func<RecordedRequest, Reply> _script;
    readonly CancellationTokenSource _stop = new();
    readonly Task _loop;
    int _count;

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();
    public int Port { get; }
    public Uri BaseUri => new($"http://127.0.0.1:{Port}/v1");
    public Uri Root => new($"http://127.0.0.1:{Port}");

    public FakeOpenAIServer(Func<RecordedRequest, Reply> script)
    {
        _script = script;
        // Pick a free port, then bind it (HttpListener cannot bind port 0); retry on the rare race.
        for (var attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try { _listener.Start(); Port = port; break; }
            catch (HttpListenerException) when (attempt < 5) { }
        }
        _loop = Task.Run(LoopAsync);
    }

    async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) when (_stop.IsCancellationRequested || !_listener.IsListening) { return; }
            _ = Task.Run(() => HandleAsync(ctx));
        }
    }

    async Task HandleAsync(HttpListenerContext ctx)
    {
        try
        {
            string body;
            using (var r = new StreamReader(ctx.Request.InputStream, Encoding.UTF8)) body = await r.ReadToEndAsync();
            var headers = ctx.Request.Headers.AllKeys.Where(k => k != null).ToDictionary(k => k!, k => ctx.Request.Headers[k]!,
                StringComparer.OrdinalIgnoreCase);
            var req = new RecordedRequest(Interlocked.Increment(ref _count), ctx.Request.HttpMethod, ctx.Request.Url!.PathAndQuery, body, headers,
                DateTime.UtcNow);
            Requests.Enqueue(req);
            var reply = _script(req);
            if (reply.Delay > TimeSpan.Zero)
            {
                try { await Task.Delay(reply.Delay, _stop.Token); } catch (OperationCanceledException) { }
            }
            var bytes = Encoding.UTF8.GetBytes(reply.Body);
            ctx.Response.StatusCode = reply.Status;
            ctx.Response.ContentType = "application/json";
            foreach (var (k, v) in reply.Headers ?? new Dictionary<string, string>()) ctx.Response.Headers[k] = v;
            ctx.Response.ContentLength64 = bytes.Length;
            await ctx.Response.OutputStream.WriteAsync(bytes);
            ctx.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The client gave up (timeout or killed process): nothing to answer.
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try { await _loop; } catch { }
        _listener.Close();
    }
}
