using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using StepDistill.Inference;

namespace StepDistill.Serving;

/// <summary>
/// An OpenAI-compatible HTTP server over one student (Kestrel, minimal APIs): <c>/v1/chat/completions</c>,
/// <c>/v1/completions</c>, <c>/v1/models</c>, the native <c>/v1/predict</c>, <c>/health</c> and <c>/metrics</c>.
/// All requests share the model's dynamic batching. The model loads in the background after
/// <see cref="StartAsync"/>; until then <c>/health</c> and <c>/v1/*</c> answer 503.
/// </summary>
public sealed partial class StudentServer : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly ServerOptions _options;
    readonly Func<CancellationToken, Task<IServedModel>> _load;
    readonly ILogger _log;
    readonly byte[]? _keyHash;
    readonly CancellationTokenSource _loadCancel = new();
    volatile IServedModel? _model;
    Task? _loading;
    long _loadedAt;
    int _disposed;

    /// <summary>
    /// A server for the model that <paramref name="load"/> returns (it runs in the background after
    /// <see cref="StartAsync"/>; the server owns the model and disposes it).
    /// </summary>
    /// <param name="load">Loads the model, e.g. <c>ct =&gt; DistilledModel.LoadAsync(folder, options, cancellationToken: ct)</c>.</param>
    /// <param name="options">Addresses and limits.</param>
    /// <param name="logging">Adds logger providers (none by default). The API key is never logged.</param>
    /// <param name="handleSignals">True in a program of its own: SIGTERM and Ctrl-C drain and stop the server.</param>
    public static StudentServer Create(Func<CancellationToken, Task<DistilledModel>> load, ServerOptions options,
                                       Action<ILoggingBuilder>? logging = null, bool handleSignals = false) =>
        new(async ct => new ServedModel(await load(ct)), options, logging, handleSignals);

    internal StudentServer(Func<CancellationToken, Task<IServedModel>> load, ServerOptions options, Action<ILoggingBuilder>? logging, bool handleSignals)
    {
        options.Validate();
        _options = options;
        _load = load;
        // Only a hash of the key is kept: compared in constant time, never printable.
        _keyHash = options.ApiKey is null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.ApiKey));

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.UseUrls([.. options.Urls]);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
        });
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.DrainTimeout);
        if (!handleSignals) builder.Services.AddSingleton<IHostLifetime, NoSignalsLifetime>();
        else builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(ServerMetrics.MeterName, ServedModel.MeterName)
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));

        _app = builder.Build();
        _log = _app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("StepDistill.Serving");
        Configure(_app);
    }

    /// <summary>The addresses Kestrel listens on (with the real port when 0 was asked for); known after start.</summary>
    public IReadOnlyList<Uri> Addresses =>
        _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.Select(a => new Uri(a)).ToArray() ?? [];

    /// <summary>True once the model is loaded and requests are served.</summary>
    public bool IsReady => _model is not null;

    /// <summary>Starts listening, then loads the model in the background.</summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        await _app.StartAsync(ct);
        _log.LogInformation("listening on {Addresses}", string.Join(", ", Addresses));
        _loading = Task.Run(async () =>
        {
            var sw = Stopwatch.StartNew();
            var model = await _load(_loadCancel.Token);
            Interlocked.Exchange(ref _loadedAt, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            _model = model;
            _log.LogInformation("model {Model} loaded in {Seconds:0.0} s; serving as '{Name}'", model.Id, sw.Elapsed.TotalSeconds, ServedName(model));
        });
    }

    /// <summary>Completes when the model is loaded; throws what loading threw.</summary>
    public Task WaitUntilReadyAsync() => _loading ?? throw new InvalidOperationException("the server has not been started");

    /// <summary>
    /// Runs until <paramref name="ct"/> is cancelled or (with signal handling) SIGTERM/Ctrl-C arrives, then stops
    /// taking connections and lets requests in flight finish (up to <see cref="ServerOptions.DrainTimeout"/>).
    /// Throws if the model cannot be loaded.
    /// </summary>
    public async Task RunAsync(CancellationToken ct = default)
    {
        await StartAsync(ct);
        var lifetime = _app.Services.GetRequiredService<IHostApplicationLifetime>();
        using var stopOnCancel = ct.Register(lifetime.StopApplication);
        var stopping = Task.Delay(Timeout.Infinite, lifetime.ApplicationStopping).ContinueWith(_ => { }, TaskScheduler.Default);
        var first = await Task.WhenAny(_loading!, stopping);
        if (first == _loading && _loading.IsFaulted)
        {
            await StopAsync();
            await _loading; // rethrows the load failure
        }
        await stopping;
        _log.LogInformation("stopping: finishing requests in flight");
        await StopAsync();
        _log.LogInformation("stopped");
    }

    /// <summary>Stops taking connections and waits for requests in flight (up to the drain timeout).</summary>
    public async Task StopAsync()
    {
        _loadCancel.Cancel();
        await _app.StopAsync();
    }

    /// <summary>Stops the server (draining requests) and frees the model.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try { await StopAsync(); } catch (ObjectDisposedException) { }
        if (_loading is not null) { try { await _loading; } catch (Exception) { /* reported by RunAsync */ } }
        await _app.DisposeAsync();
        _model?.Dispose();
        _loadCancel.Dispose();
    }

    string ServedName(IServedModel m) => _options.ModelName ?? m.Id;

    void Configure(WebApplication app)
    {
        app.Use(OuterAsync);
        app.UseStatusCodePages(ctx => ApiError.ForStatus(ctx.HttpContext.Response.StatusCode, ctx.HttpContext.Request.Method, ctx.HttpContext.Request.Path).WriteAsync(ctx.HttpContext));
        app.Use(GuardAsync);
        app.MapGet("/health", HealthAsync);
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/v1/models", ModelsAsync);
        app.MapPost("/v1/chat/completions", ctx => Handle(ctx, ChatAsync));
        app.MapPost("/v1/completions", ctx => Handle(ctx, CompletionsAsync));
        app.MapPost("/v1/predict", ctx => Handle(ctx, PredictAsync));
    }

    /// <summary>Outermost: metrics for every request, and the last word on exceptions (500, never a stack trace).</summary>
    async Task OuterAsync(HttpContext ctx, RequestDelegate next)
    {
        var metrics = ctx.RequestServices.GetRequiredService<ServerMetrics>();
        var start = Stopwatch.GetTimestamp();
        metrics.Started();
        try
        {
            await next(ctx);
        }
        catch (ApiError e)
        {
            await e.WriteAsync(ctx);
        }
        catch (Exception e) when (ctx.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            // The client went away; nobody to answer.
        }
        catch (Exception e)
        {
            LogUnexpected(_log, ctx.Request.Method, ctx.Request.Path, e);
            await ApiError.ForStatus(500, ctx.Request.Method, ctx.Request.Path).WriteAsync(ctx);
        }
        finally
        {
            var route = (ctx.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            metrics.Finished(_model is { } m ? ServedName(m) : "", route, ctx.Response.StatusCode, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    /// <summary>For <c>/v1/*</c>: the bearer key (when one is set), then readiness.</summary>
    async Task GuardAsync(HttpContext ctx, RequestDelegate next)
    {
        if (ctx.Request.Path.StartsWithSegments("/v1"))
        {
            if (_keyHash is not null && !KeyMatches(ctx.Request.Headers.Authorization.ToString()))
                throw new ApiError(401, "Incorrect or missing API key: send 'Authorization: Bearer <key>'", ApiError.InvalidRequest, null, "invalid_api_key");
            if (_model is null)
                throw new ApiError(503, "the model is still loading", "server_error", null, "model_loading") { RetryAfter = _options.RetryAfter };
        }
        await next(ctx);
    }

    bool KeyMatches(string authorization)
    {
        const string scheme = "Bearer ";
        var given = authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? authorization[scheme.Length..].Trim() : "";
        // Hashing first gives equal lengths, so the comparison time says nothing about the key.
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), _keyHash);
    }

    async Task HealthAsync(HttpContext ctx)
    {
        var lifetime = ctx.RequestServices.GetRequiredService<IHostApplicationLifetime>();
        if (lifetime.ApplicationStopping.IsCancellationRequested)
            throw new ApiError(503, "the server is shutting down", "server_error", null, "shutting_down");
        var model = _model ?? throw new ApiError(503, "the model is still loading", "server_error", null, "model_loading") { RetryAfter = _options.RetryAfter };
        await WriteJsonAsync(ctx, w =>
        {
            w.WriteString("status", "ok");
            w.WriteString("model", ServedName(model));
        });
    }

    async Task ModelsAsync(HttpContext ctx)
    {
        var model = _model!;
        await WriteJsonAsync(ctx, w =>
        {
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            w.WriteStartObject();
            w.WriteString("id", ServedName(model));
            w.WriteString("object", "model");
            w.WriteNumber("created", Interlocked.Read(ref _loadedAt));
            w.WriteString("owned_by", "stepdistill");
            w.WriteEndObject();
            w.WriteEndArray();
        });
    }

    /// <summary>
    /// Runs a generating endpoint with the per-request timeout, turning the library's refusals into HTTP:
    /// queue full → 429 with Retry-After, timeout → 504.
    /// </summary>
    async Task Handle(HttpContext ctx, Func<HttpContext, IServedModel, JsonElement, CancellationToken, Task> handler)
    {
        var model = _model!;
        using var timeout = new CancellationTokenSource(_options.RequestTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, timeout.Token);
        try
        {
            using var body = await ReadJsonAsync(ctx, linked.Token);
            await handler(ctx, model, body.RootElement, linked.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ctx.RequestAborted.IsCancellationRequested)
        {
            throw new ApiError(504, $"the request took longer than the server's limit of {_options.RequestTimeout.TotalSeconds:0.###} s", "timeout_error", null, "timeout");
        }
        catch (Exception e) when (model.IsQueueFull(e))
        {
            throw new ApiError(429, "the server is busy (its request queue is full); retry after the delay in Retry-After", "rate_limit_error", null, "queue_full")
            { RetryAfter = _options.RetryAfter };
        }
    }

    async Task<JsonDocument> ReadJsonAsync(HttpContext ctx, CancellationToken ct)
    {
        if (!ctx.Request.HasJsonContentType())
            throw ApiError.ForStatus(415, ctx.Request.Method, ctx.Request.Path);
        if (ctx.Request.ContentLength > _options.MaxRequestBodyBytes)
            throw new ApiError(413, $"the request body is {ctx.Request.ContentLength} bytes; this server accepts at most {_options.MaxRequestBodyBytes}", ApiError.InvalidRequest, null, "request_too_large");
        try
        {
            return await JsonDocument.ParseAsync(ctx.Request.Body, default, ct);
        }
        catch (JsonException e)
        {
            throw ApiError.BadRequest($"We could not parse the JSON body of your request: {e.Message}", null, "invalid_json");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new ApiError(413, $"the request body is larger than this server accepts ({_options.MaxRequestBodyBytes} bytes)", ApiError.InvalidRequest, null, "request_too_large");
        }
    }

    static async Task WriteJsonAsync(HttpContext ctx, Action<Utf8JsonWriter> body)
    {
        ctx.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(ctx.Response.BodyWriter);
        w.WriteStartObject();
        body(w);
        w.WriteEndObject();
        await w.FlushAsync(ctx.RequestAborted);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "unexpected failure in {Method} {Path}")]
    static partial void LogUnexpected(ILogger logger, string method, string path, Exception e);

    /// <summary>A host lifetime that ignores signals (in-process servers in tests and benchmarks).</summary>
    sealed class NoSignalsLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
