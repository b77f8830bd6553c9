using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace StepDistill.Student.Hub;

/// <summary>What the Hub says about one file: its blob name, size, commit and where to fetch the bytes.</summary>
/// <param name="File">The file's path in the repository.</param>
/// <param name="Size">Its size in bytes, when the Hub says.</param>
/// <param name="Commit">The commit the Hub resolved the revision to.</param>
/// <param name="DownloadUrl">Where the bytes are (after redirects).</param>
/// <param name="Etag">sha256 (64 hex) for LFS files, the git blob sha1 otherwise; the blob's name in the cache.</param>
internal sealed record HubFileMeta(string File, string Etag, long? Size, string? Commit, Uri DownloadUrl)
{
    internal bool IsLfs => HubClient.IsSha256(Etag);
}

/// <summary>
/// The few Hub endpoints huggingface_hub itself uses to download: the model info API (commit and file list)
/// and <c>{endpoint}/{repo}/resolve/{revision}/{file}</c> (HEAD for metadata without following the CDN redirect,
/// then GET with Range to resume). Failures become <see cref="StepDistillException"/>s a user can act on;
/// the token never appears in any message.
/// </summary>
internal sealed partial class HubClient : IDisposable
{
    readonly HubOptions _options;
    readonly HttpClient _http;
    readonly Uri _endpoint;

    internal HubClient(HubOptions options)
    {
        _options = options;
        if (!Uri.TryCreate(options.Endpoint.TrimEnd('/') + "/", UriKind.Absolute, out var endpoint) ||
            (endpoint.Scheme != Uri.UriSchemeHttps && endpoint.Scheme != Uri.UriSchemeHttp))
            throw new StepDistillException($"HF_ENDPOINT '{options.Endpoint}' is not an http(s) URL");
        _endpoint = endpoint;
        // Redirects are followed by hand: metadata must come from the Hub's own answer, not the CDN's, and the
        // token must not travel to another host.
        var handler = options.Handler ?? new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = options.RequestTimeout,
        };
        _http = new HttpClient(handler, disposeHandler: options.Handler is null) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("stepdistill/1.0");
    }

    public void Dispose() => _http.Dispose();

    /// <summary>The commit a revision points to and the files in it (GET /api/models/{repo}/revision/{rev}).</summary>
    internal async Task<(string Commit, List<string> Files)> GetRepoInfoAsync(ModelId id, CancellationToken ct)
    {
        var url = new Uri(_endpoint, $"api/models/{id.RepoId}/revision/{Uri.EscapeDataString(id.Revision)}");
        using var response = await SendAsync(HttpMethod.Get, url, id, null, followAll: true, range: null, ct).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, id, null, ct).ConfigureAwait(false);
        string body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            var sha = root.TryGetProperty("sha", out var s) ? s.GetString() : null;
            if (sha is null || !ModelId.IsCommitHash(sha))
                throw new StepDistillException($"{_options.Endpoint}: the model info of {id} has no valid \"sha\" (commit hash)");
            var files = new List<string>();
            if (root.TryGetProperty("siblings", out var siblings) && siblings.ValueKind == JsonValueKind.Array)
                foreach (var sib in siblings.EnumerateArray())
                    if (sib.TryGetProperty("rfilename", out var f) && f.GetString() is { } name) files.Add(name);
            return (sha, files);
        }
        catch (JsonException e)
        {
            throw new StepDistillException($"{_options.Endpoint}: the model info of {id} is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>HEAD on the resolve URL: etag, size and commit, and where the bytes are (CDN or the Hub).</summary>
    internal async Task<HubFileMeta> GetFileMetaAsync(ModelId id, string revision, string file, CancellationToken ct)
    {
        var url = ResolveUrl(id, revision, file);
        using var response = await SendAsync(HttpMethod.Head, url, id, file, followAll: false, range: null, ct).ConfigureAwait(false);
        var status = (int)response.StatusCode;
        Uri downloadUrl;
        if (status is >= 300 and < 400 && response.Headers.Location is { } location)
            downloadUrl = location.IsAbsoluteUri ? location : new Uri(response.RequestMessage!.RequestUri!, location);
        else
        {
            await ThrowIfFailedAsync(response, id, file, ct).ConfigureAwait(false);
            downloadUrl = response.RequestMessage!.RequestUri!;
        }

        var etag = NormalizeEtag(Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.Tag ?? Header(response, "ETag"));
        if (etag is null || !EtagRegex().IsMatch(etag))
            throw new StepDistillException($"{_options.Endpoint}: no usable ETag for {file} in {id}; is HF_ENDPOINT a Hugging Face Hub?");
        long? size = long.TryParse(Header(response, "X-Linked-Size"), out var linked) ? linked : response.Content.Headers.ContentLength;
        var commit = Header(response, "X-Repo-Commit");
        return new HubFileMeta(file, etag, size, commit is not null && ModelId.IsCommitHash(commit) ? commit : null, downloadUrl);
    }

    /// <summary>
    /// Downloads <paramref name="meta"/> into <paramref name="incompletePath"/>, continuing a partial file with a
    /// Range request. Returns when the server's body ended; the caller verifies size and hash.
    /// </summary>
    internal async Task DownloadAsync(ModelId id, HubFileMeta meta, string incompletePath,
        Action<long> progress, CancellationToken ct)
    {
        long have = File.Exists(incompletePath) ? new FileInfo(incompletePath).Length : 0;
        if (meta.Size is { } size && have > size) have = 0; // a stray longer file cannot be a prefix
        if (meta.Size is { } s2 && have == s2 && have > 0) { progress(have); return; }

        using var response = await SendAsync(HttpMethod.Get, meta.DownloadUrl, id, meta.File, followAll: true,
            range: have > 0 ? have : null, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
        {
            // The partial file does not fit what the server has now: start over.
            File.Delete(incompletePath);
            await DownloadAsync(id, meta, incompletePath, progress, ct).ConfigureAwait(false);
            return;
        }
        await ThrowIfFailedAsync(response, id, meta.File, ct).ConfigureAwait(false);

        // 206: the server continues our partial file; 200: it sends the whole file, so start over.
        bool append = have > 0 && response.StatusCode == HttpStatusCode.PartialContent;
        if (append && response.Content.Headers.ContentRange is { From: { } from } && from != have)
            append = false;
        if (!append) have = 0;

        await using var file = new FileStream(incompletePath, append ? FileMode.Append : FileMode.Create, FileAccess.Write,
            FileShare.None, bufferSize: 1 << 16, useAsync: true);
        progress(have);
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var buffer = new byte[1 << 16];
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
        while (true)
        {
            idle.CancelAfter(_options.RequestTimeout);
            int n;
            try
            {
                n = await body.ReadAsync(buffer, idle.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new IOException($"no data for {_options.RequestTimeout.TotalSeconds:0} s");
            }
            if (n == 0) break;
            await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            have += n;
            progress(have);
        }
        await file.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Checks size and, for LFS files (sha256 etags), the SHA-256 of the downloaded bytes.</summary>
    internal static async Task<string?> VerifyAsync(HubFileMeta meta, string path, CancellationToken ct)
    {
        long length = new FileInfo(path).Length;
        if (meta.Size is { } size && length != size)
            return $"size {length} bytes, expected {size}";
        if (!meta.IsLfs) return null;
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        var hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false));
        return hash == meta.Etag ? null : $"sha256 {hash}, expected {meta.Etag}";
    }

    internal static bool IsSha256(string etag) => etag.Length == 64 && etag.All(Uri.IsHexDigit);

    Uri ResolveUrl(ModelId id, string revision, string file) =>
        new(_endpoint, $"{id.RepoId}/resolve/{Uri.EscapeDataString(revision)}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}");

    /// <summary>
    /// Sends a request, following redirects by hand: all of them for GET (a CDN), only relative ones for HEAD
    /// (a renamed repository), as huggingface_hub does. The token goes only to the endpoint's own host.
    /// Connection failures become a "no network" message.
    /// </summary>
    async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri url, ModelId id, string? file, bool followAll,
        long? range, CancellationToken ct)
    {
        for (int hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(method, url);
            if (_options.Token is { } token && SameOrigin(url, _endpoint))
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            if (range is { } from) request.Headers.Range = new RangeHeaderValue(from, null);
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));

            HttpResponseMessage response;
            using (var headersTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                headersTimeout.CancelAfter(_options.RequestTimeout);
                try
                {
                    response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headersTimeout.Token)
                        .ConfigureAwait(false);
                }
                catch (HttpRequestException e) when (e.StatusCode is null)
                {
                    throw NoNetwork(id, e.Message, e);
                }
                catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
                {
                    throw NoNetwork(id, $"no answer within {_options.RequestTimeout.TotalSeconds:0} s", e);
                }
            }

            int status = (int)response.StatusCode;
            var location = response.Headers.Location;
            if (status is 301 or 302 or 303 or 307 or 308 && location is not null && hop < 10 &&
                (followAll || !location.IsAbsoluteUri))
            {
                url = location.IsAbsoluteUri ? location : new Uri(url, location);
                response.Dispose();
                continue;
            }
            return response;
        }
    }

    static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase) &&
        string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    StepDistillException NoNetwork(ModelId id, string why, Exception inner) => new(
        $"cannot reach the Hugging Face Hub at {_options.Endpoint} to get {id} ({why}). No network? " +
        "Pass a local model folder instead, or set HF_HUB_OFFLINE=1 to use only models already in the cache " +
        $"({_options.CacheDir}).", inner);

    /// <summary>Maps the Hub's error answers (X-Error-Code, status) to messages that say what to do.</summary>
    async Task ThrowIfFailedAsync(HttpResponseMessage response, ModelId id, string? file, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        int status = (int)response.StatusCode;
        var code = Header(response, "X-Error-Code");
        var serverMessage = Header(response, "X-Error-Message");
        if (serverMessage is null && response.Content is not null)
        {
            try
            {
                var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                using var doc = JsonDocument.Parse(body);
                if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var err))
                    serverMessage = err.GetString();
            }
            catch (JsonException) { }
            catch (InvalidOperationException) { }
        }
        string repoUrl = $"{_options.Endpoint}/{id.RepoId}";
        bool hasToken = _options.Token is not null;
        bool gated = code == "GatedRepo" || (serverMessage?.Contains("gated", StringComparison.OrdinalIgnoreCase) ?? false) ||
                     (serverMessage?.Contains("restricted", StringComparison.OrdinalIgnoreCase) ?? false);

        string message = (status, code) switch
        {
            (401 or 403, _) when gated && !hasToken =>
                $"{id.RepoId} is a gated model: accept its terms at {repoUrl}, then set HF_TOKEN to an access token " +
                "of that account (or run `huggingface-cli login`)",
            (401 or 403, _) when gated =>
                $"{id.RepoId} is a gated model and the token in use (HF_TOKEN or the huggingface-cli login file) has no access: " +
                $"accept its terms at {repoUrl} with the token's account",
            (401, _) when code == "RepoNotFound" || !hasToken =>
                $"model {id.RepoId} not found at {_options.Endpoint}, or it is private: check the name (for example " +
                "google/flan-t5-small); for a private model set HF_TOKEN",
            (401, _) =>
                $"the Hub refused the token in use (HF_TOKEN or the huggingface-cli login file) for {id.RepoId}: it is invalid " +
                "or expired, or the model does not exist",
            (403, _) =>
                $"access to {id.RepoId} is forbidden for the token in use (HF_TOKEN or the huggingface-cli login file)",
            (404, "RevisionNotFound") =>
                $"revision '{id.Revision}' not found in {id.RepoId}: use an existing branch, tag or full 40-character commit hash",
            (404, "EntryNotFound") =>
                $"{file ?? "a file"} not found in {id} (revision {id.Revision})",
            (404, _) when file is null || code == "RepoNotFound" =>
                $"model {id.RepoId} not found at {_options.Endpoint}: check the name (for example google/flan-t5-small)",
            (404, _) => $"{file} not found in {id}",
            _ => $"{_options.Endpoint} answered {status} {response.ReasonPhrase} for {(file is null ? id.ToString() : file + " of " + id)}",
        };
        if (serverMessage is not null && !message.Contains(serverMessage, StringComparison.Ordinal))
            message += $" (Hub: {serverMessage})";
        throw new StepDistillException(message);
    }

    static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var v) || response.Content.Headers.TryGetValues(name, out v)
            ? v.FirstOrDefault() : null;

    /// <summary>Strips the weak-validator prefix and quotes, as huggingface_hub does.</summary>
    internal static string? NormalizeEtag(string? etag)
    {
        if (etag is null) return null;
        if (etag.StartsWith("W/", StringComparison.Ordinal)) etag = etag[2..];
        return etag.Trim('"');
    }

    // An etag becomes a file name in the cache: accept only what the Hub produces (hex digests).
    [GeneratedRegex("^[0-9a-fA-F]{16,128}$")]
    private static partial Regex EtagRegex();
}
