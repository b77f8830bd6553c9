namespace StepDistill.Serving;

/// <summary>
/// How <see cref="StudentServer"/> listens and what it accepts. Decoding settings (max new tokens, beams, batch
/// size, queue length, max input length) belong to the inference library's options, not here.
/// </summary>
public sealed record ServerOptions
{
    /// <summary>The address served when none is given: loopback only, so nothing is exposed by accident.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8000";

    /// <summary>Addresses to listen on (Kestrel URL syntax; port 0 picks a free port).</summary>
    public IReadOnlyList<string> Urls { get; init; } = [DefaultUrl];

    /// <summary>The model id clients send and see in <c>/v1/models</c>; null = the model's own id.</summary>
    public string? ModelName { get; init; }

    /// <summary>
    /// When set, every <c>/v1/*</c> request needs <c>Authorization: Bearer &lt;key&gt;</c> (compared in constant
    /// time, never logged). <c>/health</c> and <c>/metrics</c> stay open.
    /// </summary>
    public string? ApiKey { get; init; }

    // Defaults as constants so that the CLI's --help shows these very values.
    /// <summary>Default of <see cref="MaxRequestBodyBytes"/>: 1 MiB.</summary>
    public const long DefaultMaxRequestBodyBytes = 1 << 20;
    /// <summary>Default of <see cref="MaxInputsPerRequest"/>.</summary>
    public const int DefaultMaxInputsPerRequest = 256;
    /// <summary>Default of <see cref="RequestTimeout"/>, in seconds.</summary>
    public const double DefaultRequestTimeoutSeconds = 60;
    /// <summary>Default of <see cref="DrainTimeout"/>, in seconds.</summary>
    public const double DefaultDrainTimeoutSeconds = 30;

    /// <summary>Largest request body accepted (413 above it).</summary>
    public long MaxRequestBodyBytes { get; init; } = DefaultMaxRequestBodyBytes;

    /// <summary>Most inputs in one <c>/v1/predict</c> or <c>/v1/completions</c> request (400 above it).</summary>
    public int MaxInputsPerRequest { get; init; } = DefaultMaxInputsPerRequest;

    /// <summary>Longest time one request may take, queueing included (504 after it).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(DefaultRequestTimeoutSeconds);

    /// <summary>On SIGTERM or Ctrl-C, how long requests in flight get to finish before the server stops anyway.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(DefaultDrainTimeoutSeconds);

    /// <summary>The <c>Retry-After</c> sent with 429 (queue full) and 503 (model still loading).</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Checks the values; throws naming the property.</summary>
    public void Validate()
    {
        if (Urls.Count == 0) throw new StepDistillException("ServerOptions.Urls: at least one address is needed");
        foreach (var u in Urls)
            if (!Uri.TryCreate(u, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new StepDistillException($"ServerOptions.Urls: '{u}' is not an http(s) URL");
        if (MaxRequestBodyBytes < 1024) throw new StepDistillException($"ServerOptions.MaxRequestBodyBytes must be at least 1024, got {MaxRequestBodyBytes}");
        if (MaxInputsPerRequest < 1) throw new StepDistillException($"ServerOptions.MaxInputsPerRequest must be at least 1, got {MaxInputsPerRequest}");
        if (RequestTimeout <= TimeSpan.Zero) throw new StepDistillException($"ServerOptions.RequestTimeout must be positive, got {RequestTimeout}");
        if (DrainTimeout < TimeSpan.Zero) throw new StepDistillException($"ServerOptions.DrainTimeout must not be negative, got {DrainTimeout}");
        if (RetryAfter < TimeSpan.FromSeconds(1)) throw new StepDistillException($"ServerOptions.RetryAfter must be at least 1 s, got {RetryAfter}");
        if (ApiKey is { Length: 0 }) throw new StepDistillException("ServerOptions.ApiKey is empty (leave it null for no key)");
        if (ModelName is { } m && string.IsNullOrWhiteSpace(m)) throw new StepDistillException("ServerOptions.ModelName is blank");
    }
}
