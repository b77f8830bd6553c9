using System.ClientModel;
using System.ClientModel.Primitives;
using LLama;
using LLama.Abstractions;
using LLama.Common;
using Microsoft.Extensions.AI;
using OllamaSharp;
using OpenAI;

namespace StepDistill.Teacher.Clients;

/// <summary>Settings shared by all teacher kinds; each kind uses the ones that apply to it.</summary>
public sealed record TeacherOptions
{
    /// <summary>Base URL of the server (OpenAI-compatible: including /v1; Azure: the resource URL; Ollama: its root).</summary>
    public Uri? Endpoint { get; init; }
    /// <summary>Name of the environment variable holding the API key (never the key itself).</summary>
    public string? ApiKeyEnv { get; init; }
    /// <summary>Azure OpenAI api-version query parameter.</summary>
    public string AzureApiVersion { get; init; } = "2024-10-21";
    /// <summary>Network timeout of the underlying HTTP client; the pipeline's own timeout is the one that acts.</summary>
    public TimeSpan NetworkTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>GGUF: context size in tokens (null = the model's own).</summary>
    public uint? ContextSize { get; init; }
    /// <summary>GGUF: CPU threads (null = llama.cpp's default).</summary>
    public int? Threads { get; init; }
}

/// <summary>A chat client plus what the pipeline needs to know about it.</summary>
public sealed class TeacherClient(IChatClient client, string id, string model, int? maxConcurrency = null, IDisposable? owned = null) : IDisposable
{
    /// <summary>The chat client that answers the prompts.</summary>
    public IChatClient Client { get; } = client;
    /// <summary>Identifies the endpoint and model in cache keys, e.g. <c>openai|http://host/v1</c>.</summary>
    public string Id { get; } = id;
    /// <summary>The model name sent with each request (and part of the cache key).</summary>
    public string Model { get; } = model;
    /// <summary>A cap on concurrent requests the backend can take (1 for an in-process model).</summary>
    public int? MaxConcurrency { get; } = maxConcurrency;

    /// <summary>Disposes the chat client.</summary>
    public void Dispose()
    {
        Client.Dispose();
        owned?.Dispose();
    }
}

/// <summary>
/// Creates a <see cref="Teacher"/> from a teacher spec <c>prefix:value</c>. Built in: <c>openai</c>,
/// <c>azure</c>, <c>ollama</c>, <c>gguf</c>; callers pass others (e.g. an offline simulated teacher) by prefix.
/// </summary>
public static class TeacherFactory
{
    static readonly IReadOnlyDictionary<string, Func<string, TeacherOptions, TeacherClient>> BuiltIn = new Dictionary<string, Func<string,
        TeacherOptions, TeacherClient>>(StringComparer.OrdinalIgnoreCase)
    {
        ["openai"] = CreateOpenAI,
        ["azure"] = CreateAzure,
        ["ollama"] = CreateOllama,
        ["gguf"] = CreateGguf,
    };

    /// <summary>The built-in kinds, then those of <paramref name="extra"/>.</summary>
    public static IEnumerable<string> Prefixes(IReadOnlyDictionary<string, Func<string, TeacherOptions, TeacherClient>>? extra = null) =>
        BuiltIn.Keys.Concat(extra?.Keys ?? []);

    /// <summary>Splits <c>kind:value</c>.</summary>
    public static (string Prefix, string Value) ParseSpec(string spec, IReadOnlyDictionary<string, Func<string, TeacherOptions, TeacherClient>>? extra = null)
    {
        var colon = spec.IndexOf(':');
        if (colon <= 0 || colon == spec.Length - 1)
            throw StepDistillException.InvalidOption("Teacher", spec, $"must look like <kind>:<model> with kind one of " +
                $"{string.Join(", ", Prefixes(extra))} (e.g. openai:gpt-4o-mini, ollama:llama3, gguf:/models/x.gguf)");
        return (spec[..colon], spec[(colon + 1)..]);
    }

    /// <summary>
    /// Creates the teacher <paramref name="spec"/> names. Kinds beyond the built-in ones (e.g. the demo's simulated
    /// teacher) are passed in <paramref name="extra"/>, by prefix; each factory gets the text after the colon.
    /// </summary>
    public static TeacherClient Create(string spec, TeacherOptions options, IReadOnlyDictionary<string, Func<string, TeacherOptions,
        TeacherClient>>? extra = null)
    {
        var (prefix, value) = ParseSpec(spec, extra);
        var f = BuiltIn.GetValueOrDefault(prefix) ?? extra?.FirstOrDefault(kv => string.Equals(kv.Key, prefix, StringComparison.OrdinalIgnoreCase)).Value;
        if (f is null) throw StepDistillException.InvalidOption("Teacher", spec, $"unknown kind '{prefix}' (known: {string.Join(", ", Prefixes(extra))})");
        return f(value, options);
    }

    const string KeyNotSet = "this environment variable, which should hold the API key, is not set (set it, or name another)";

    static string? ReadKey(string variable) => Environment.GetEnvironmentVariable(variable) is { Length: > 0 } k ? k : null;

    /// <summary>Retries are ours (Polly): the SDK's own policy is switched off, see notes/dotnet-deps.md §1.</summary>
    static OpenAIClientOptions BaseOptions(Uri endpoint, TeacherOptions o) => new()
    {
        Endpoint = endpoint,
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        NetworkTimeout = o.NetworkTimeout,
    };

    static TeacherClient CreateOpenAI(string model, TeacherOptions o)
    {
        var variable = o.ApiKeyEnv ?? "OPENAI_API_KEY";
        var key = ReadKey(variable);
        if (key is null && o.Endpoint is null)
            throw StepDistillException.InvalidOption(nameof(TeacherOptions.ApiKeyEnv), variable, KeyNotSet);
        var endpoint = o.Endpoint ?? new Uri("https://api.openai.com/v1");
        // Local OpenAI-compatible servers (vLLM, llama.cpp) usually need no key, but the SDK requires one.
        var client = new OpenAIClient(new ApiKeyCredential(key ?? "no-key"), BaseOptions(endpoint, o));
        return new TeacherClient(client.GetChatClient(model).AsIChatClient(), $"openai|{endpoint.AbsoluteUri.TrimEnd('/')}", model);
    }

    /// <summary>
    /// Azure OpenAI through the plain OpenAI client: base URL <c>{endpoint}/openai/deployments/{deployment}</c>,
    /// an <c>api-key</c> header instead of a bearer token, and the <c>api-version</c> query parameter.
    /// </summary>
    static TeacherClient CreateAzure(string deployment, TeacherOptions o)
    {
        if (o.Endpoint is null)
            throw StepDistillException.InvalidOption(nameof(TeacherOptions.Endpoint), null, "Azure teachers need the resource endpoint, " +
                "https://<resource>.openai.azure.com");
        var variable = o.ApiKeyEnv ?? "AZURE_OPENAI_API_KEY";
        var key = ReadKey(variable) ?? throw StepDistillException.InvalidOption(nameof(TeacherOptions.ApiKeyEnv), variable, KeyNotSet);
        var baseUri = new Uri($"{o.Endpoint.AbsoluteUri.TrimEnd('/')}/openai/deployments/{Uri.EscapeDataString(deployment)}");
        var options = BaseOptions(baseUri, o);
        options.AddPolicy(new AzureKeyPolicy(key, o.AzureApiVersion), PipelinePosition.BeforeTransport);
        var client = new OpenAIClient(new ApiKeyCredential(key), options);
        return new TeacherClient(client.GetChatClient(deployment).AsIChatClient(), $"azure|{baseUri.AbsoluteUri}", deployment);
    }

    static TeacherClient CreateOllama(string model, TeacherOptions o)
    {
        var endpoint = o.Endpoint ?? new Uri("http://localhost:11434");
        var http = new HttpClient { BaseAddress = endpoint, Timeout = o.NetworkTimeout };
        var client = new OllamaApiClient(http, model);
        return new TeacherClient(client, $"ollama|{endpoint.AbsoluteUri.TrimEnd('/')}", model, owned: http);
    }

    static TeacherClient CreateGguf(string path, TeacherOptions o)
    {
        if (!File.Exists(path)) throw StepDistillException.InvalidOption("Teacher", $"gguf:{path}", "file not found");
        var p = new ModelParams(path) { GpuLayerCount = 0 };
        if (o.ContextSize is uint ctx) p.ContextSize = ctx;
        if (o.Threads is int t) p.Threads = t;
        LLamaWeights weights;
        try { weights = LLamaWeights.LoadFromFile(p); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new StepDistillException($"{path}: cannot load the GGUF model: {e.Message}", e);
        }
        ILLamaExecutor executor = new StatelessExecutor(weights, p);
        var full = Path.GetFullPath(path);
        var info = new FileInfo(full);
        // One generation at a time: llama.cpp already uses all CPU threads for one.
        return new TeacherClient(executor.AsChatClient(), $"gguf|{full}|{info.Length}|{info.LastWriteTimeUtc.Ticks}", Path.GetFileName(full),
            maxConcurrency: 1, owned: weights);
    }

    sealed class AzureKeyPolicy(string key, string apiVersion) : PipelinePolicy
    {
        void Apply(PipelineMessage message)
        {
            message.Request.Headers.Remove("Authorization");
            message.Request.Headers.Set("api-key", key);
            var uri = message.Request.Uri!;
            if (!uri.Query.Contains("api-version=", StringComparison.Ordinal))
                message.Request.Uri = new Uri(uri.AbsoluteUri + (uri.Query.Length > 0 ? "&" : "?") + "api-version=" + Uri.EscapeDataString(apiVersion));
        }

        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            Apply(message);
            ProcessNext(message, pipeline, currentIndex);
        }

        public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            Apply(message);
            return ProcessNextAsync(message, pipeline, currentIndex);
        }
    }
}
