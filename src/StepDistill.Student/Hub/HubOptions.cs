namespace StepDistill.Student.Hub;

/// <summary>
/// Where and how <see cref="ModelResolver"/> reaches the Hugging Face Hub. Every property defaults from the same
/// environment variables the Python <c>huggingface_hub</c> library reads, so both share one cache and one token.
/// </summary>
public sealed class HubOptions
{
    /// <summary>Base URL of the Hub: <c>HF_ENDPOINT</c>, else <c>https://huggingface.co</c>.</summary>
    public string Endpoint { get; init; }

    /// <summary>The hub cache folder: <c>HF_HUB_CACHE</c>, else <c>$HF_HOME/hub</c>, else <c>~/.cache/huggingface/hub</c>.</summary>
    public string CacheDir { get; init; }

    /// <summary>Access token for gated or private models: <c>HF_TOKEN</c>, else the token file Python's
    /// <c>huggingface-cli login</c> writes. Never printed.</summary>
    public string? Token { get; init; }

    /// <summary><c>HF_HUB_OFFLINE=1</c>: use only the cache; never open a connection.</summary>
    public bool Offline { get; init; }

    /// <summary>How many times an interrupted or corrupted file download is retried (resuming where possible)
    /// within one call before giving up. A partial file is kept either way, so a later call resumes it.</summary>
    public int MaxRetries { get; init; } = 2;

    /// <summary>Timeout of each HTTP request without progress (headers, or the next block of a body).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>For tests: the handler requests go through. Null: a fresh <see cref="SocketsHttpHandler"/>.</summary>
    public HttpMessageHandler? Handler { get; init; }

    /// <summary>Options from the process environment.</summary>
    public HubOptions() : this(Environment.GetEnvironmentVariable) { }

    /// <summary>Options from an explicit environment (tests).</summary>
    internal HubOptions(Func<string, string?> env)
    {
        Endpoint = (NonEmpty(env("HF_ENDPOINT")) ?? "https://huggingface.co").TrimEnd('/');
        var hfHome = HfHome(env);
        CacheDir = NonEmpty(env("HF_HUB_CACHE")) ?? NonEmpty(env("HUGGINGFACE_HUB_CACHE")) ?? Path.Combine(hfHome, "hub");
        Token = NonEmpty(env("HF_TOKEN"))?.Trim() ?? NonEmpty(env("HUGGING_FACE_HUB_TOKEN"))?.Trim()
                ?? ReadTokenFile(NonEmpty(env("HF_TOKEN_PATH")) ?? Path.Combine(hfHome, "token"));
        Offline = IsTrue(env("HF_HUB_OFFLINE")) || IsTrue(env("TRANSFORMERS_OFFLINE"));
    }

    /// <summary>Never shows the token.</summary>
    public override string ToString() =>
        $"HubOptions {{ Endpoint = {Endpoint}, CacheDir = {CacheDir}, Token = {(Token is null ? "none" : "set")}, Offline = {Offline} }}";

    static string HfHome(Func<string, string?> env)
    {
        if (NonEmpty(env("HF_HOME")) is { } home) return ExpandHome(home, env);
        var xdg = NonEmpty(env("XDG_CACHE_HOME")) ?? Path.Combine(UserHome(env), ".cache");
        return Path.Combine(ExpandHome(xdg, env), "huggingface");
    }

    static string UserHome(Func<string, string?> env) =>
        NonEmpty(env("HOME")) ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    static string ExpandHome(string path, Func<string, string?> env) =>
        path == "~" ? UserHome(env) : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(UserHome(env), path[2..]) : path;

    static string? ReadTokenFile(string path)
    {
        try { return File.Exists(path) ? NonEmpty(File.ReadAllText(path).Trim()) : null; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    // huggingface_hub's constants treat these values as true.
    static bool IsTrue(string? s) => s is not null &&
        (s.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE");
}
