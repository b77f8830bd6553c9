using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace StepDistill.Student.Tests.Hub;

/// <summary>One request the fake Hub received.</summary>
public sealed record FakeRequest(string Method, string Path, string? Range, string? Authorization);

/// <summary>A model repository served by <see cref="FakeHub"/>: files per commit, and branch/tag names.</summary>
public sealed class FakeRepo(string repoId)
{
    public string RepoId { get; } = repoId;
    public Dictionary<string, Dictionary<string, byte[]>> Commits { get; } = new();
    public Dictionary<string, string> Refs { get; } = new();
    /// <summary>When set, requests need "Bearer " + this token (gated model).</summary>
    public string? RequiredToken { get; init; }

    public FakeRepo Commit(string sha, Dictionary<string, byte[]> files, params string[] refs)
    {
        Commits[sha] = files;
        foreach (var r in refs) Refs[r] = sha;
        return this;
    }
}

/// <summary>
/// A loopback HTTP/1.1 server imitating the Hub endpoints the client uses: the model info API, the resolve
/// endpoint (HEAD and GET; LFS files answer with a 302 to a CDN path, as the Hub does) and the CDN with Range.
/// It records every request and can cut a download short or corrupt it. Raw sockets give exact control over
/// the connection (a cut is a closed socket mid-body).
/// </summary>
public sealed class FakeHub : IDisposable
{
    readonly TcpListener _listener;
    readonly CancellationTokenSource _stop = new();
    readonly Dictionary<string, FakeRepo> _repos = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, byte[]> _cdn = new(StringComparer.Ordinal);
    readonly ConcurrentQueue<FakeRequest> _requests = new();
    readonly ConcurrentDictionary<string, long> _cutOnce = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, int> _corrupt = new(StringComparer.Ordinal);
    readonly Task _loop;

    public FakeHub(params FakeRepo[] repos)
    {
        foreach (var r in repos) _repos[r.RepoId] = r;
        foreach (var files in repos.SelectMany(r => r.Commits.Values))
            foreach (var (name, bytes) in files)
                if (IsLfs(name)) _cdn[Sha256(bytes)] = bytes;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Endpoint = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _loop = Task.Run(AcceptLoop);
    }

    public string Endpoint { get; }

    /// <summary>Where LFS files are redirected: this server's own /cdn/ by default, or another server's (another origin).</summary>
    public string? CdnEndpoint { get; set; }
    public IReadOnlyList<FakeRequest> Requests => _requests.ToArray();

    /// <summary>The next GET of <paramref name="file"/>'s bytes closes the connection after <paramref name="bytes"/> bytes.</summary>
    public void CutOnce(string file, long bytes) => _cutOnce[file] = bytes;

    /// <summary>The next <paramref name="times"/> GETs of <paramref name="file"/> deliver one flipped byte.</summary>
    public void Corrupt(string file, int times) => _corrupt[file] = times;

    public static bool IsLfs(string name) =>
        name.EndsWith(".safetensors", StringComparison.Ordinal) || name.EndsWith(".bin", StringComparison.Ordinal) ||
        name.EndsWith(".model", StringComparison.Ordinal);

    public static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>The git blob id, the Hub's ETag for files not in LFS.</summary>
    public static string GitSha1(byte[] data) =>
        Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {data.Length}\0"), .. data]));

    public static string EtagOf(string name, byte[] data) => IsLfs(name) ? Sha256(data) : GitSha1(data);

    async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try { await Handle(client.GetStream()); }
                    catch (IOException) { }
                    catch (SocketException) { }
                }
            });
        }
    }

    async Task Handle(NetworkStream stream)
    {
        // Read the request head (no request bodies are used by the client).
        var head = new MemoryStream();
        var one = new byte[1];
        while (!head.ToArray().AsSpan().EndsWith("\r\n\r\n"u8))
        {
            if (await stream.ReadAsync(one) == 0) return;
            head.WriteByte(one[0]);
        }
        var lines = Encoding.ASCII.GetString(head.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var parts = lines[0].Split(' ');
        var (method, target) = (parts[0], parts[1]);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2))
            .ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
        headers.TryGetValue("Range", out var range);
        headers.TryGetValue("Authorization", out var auth);
        _requests.Enqueue(new FakeRequest(method, target, range, auth));

        var path = target.Split('?')[0];
        if (path.StartsWith("/api/models/", StringComparison.Ordinal)) await Api(stream, path, auth);
        else if (path.StartsWith("/cdn/", StringComparison.Ordinal)) await Cdn(stream, method, path[5..], range);
        else if (path.Contains("/resolve/", StringComparison.Ordinal)) await Resolve(stream, method, path, auth);
        else await Respond(stream, method, 404, [], "not found"u8.ToArray());
    }

    async Task Api(NetworkStream s, string path, string? auth)
    {
        var rest = path["/api/models/".Length..];
        int at = rest.LastIndexOf("/revision/", StringComparison.Ordinal);
        if (at < 0) { await Respond(s, "GET", 404, [], []); return; }
        var repoId = rest[..at];
        var revision = Uri.UnescapeDataString(rest[(at + "/revision/".Length)..]);
        var (repo, commit) = await Lookup(s, "GET", repoId, revision, auth);
        if (repo is null) return;
        var json = JsonSerializer.Serialize(new
        {
            id = repoId,
            sha = commit,
            siblings = repo.Commits[commit!].Keys.Select(k => new { rfilename = k }).ToArray(),
        });
        await Respond(s, "GET", 200, [("Content-Type", "application/json")], Encoding.UTF8.GetBytes(json));
    }

    async Task Resolve(NetworkStream s, string method, string path, string? auth)
    {
        int at = path.IndexOf("/resolve/", StringComparison.Ordinal);
        var repoId = path[1..at];
        var rest = path[(at + "/resolve/".Length)..];
        int slash = rest.IndexOf('/');
        var revision = Uri.UnescapeDataString(rest[..slash]);
        var file = string.Join('/', rest[(slash + 1)..].Split('/').Select(Uri.UnescapeDataString));
        var (repo, commit) = await Lookup(s, method, repoId, revision, auth);
        if (repo is null) return;
        if (!repo.Commits[commit!].TryGetValue(file, out var bytes))
        {
            await Respond(s, method, 404, [("X-Error-Code", "EntryNotFound"), ("X-Error-Message", "Entry not found")], []);
            return;
        }
        if (IsLfs(file))
        {
            var sha = Sha256(bytes);
            await Respond(s, method, 302,
            [
                ("Location", $"{CdnEndpoint ?? Endpoint}/cdn/{sha}"), ("X-Repo-Commit", commit!), ("X-Linked-Etag", $"\"{sha}\""),
                ("X-Linked-Size", bytes.Length.ToString()), ("ETag", $"\"{GitSha1(bytes)}\""),
            ], []);
            return;
        }
        await Respond(s, method, 200, [("X-Repo-Commit", commit!), ("ETag", $"\"{GitSha1(bytes)}\"")], bytes,
            faultKey: file);
    }

    async Task Cdn(NetworkStream s, string method, string sha, string? range)
    {
        if (!_cdn.TryGetValue(sha, out var bytes)) { await Respond(s, method, 404, [], []); return; }
        // Faults are keyed by file name; find it from the repositories.
        var file = _repos.Values.SelectMany(r => r.Commits.Values).SelectMany(f => f)
            .First(kv => IsLfs(kv.Key) && Sha256(kv.Value) == sha).Key;
        long from = 0;
        if (range is not null && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
            from = long.Parse(range[6..^1]);
        if (from >= bytes.Length && bytes.Length > 0)
        {
            await Respond(s, method, 416, [("Content-Range", $"bytes */{bytes.Length}")], []);
            return;
        }
        if (from > 0)
            await Respond(s, method, 206, [("Content-Range", $"bytes {from}-{bytes.Length - 1}/{bytes.Length}")],
                bytes[(int)from..], faultKey: file, offset: from);
        else
            await Respond(s, method, 200, [], bytes, faultKey: file);
    }

    /// <summary>Answers the Hub's errors for unknown repositories, gated access and unknown revisions.</summary>
    async Task<(FakeRepo?, string?)> Lookup(NetworkStream s, string method, string repoId, string revision, string? auth)
    {
        if (!_repos.TryGetValue(repoId, out var repo))
        {
            // The Hub answers 401 (not 404) for a missing repository when no token is sent, to hide private ones.
            await Respond(s, method, auth is null ? 401 : 404,
                [("X-Error-Code", "RepoNotFound"), ("X-Error-Message", "Repository not found")], []);
            return (null, null);
        }
        if (repo.RequiredToken is { } token && auth != "Bearer " + token)
        {
            await Respond(s, method, auth is null ? 401 : 403,
            [
                ("X-Error-Code", "GatedRepo"),
                ("X-Error-Message", $"Access to model {repoId} is restricted. You must have access to it and be authenticated to access it. Please log in."),
            ], []);
            return (null, null);
        }
        var commit = repo.Refs.TryGetValue(revision, out var c) ? c : repo.Commits.ContainsKey(revision) ? revision : null;
        if (commit is null)
        {
            await Respond(s, method, 404, [("X-Error-Code", "RevisionNotFound"), ("X-Error-Message", "Invalid rev id: " + revision)], []);
            return (null, null);
        }
        return (repo, commit);
    }

    async Task Respond(NetworkStream s, string method, int status, (string, string)[] headers, byte[] body,
        string? faultKey = null, long offset = 0)
    {
        var sb = new StringBuilder($"HTTP/1.1 {status} {Reason(status)}\r\n");
        foreach (var (k, v) in headers) sb.Append(k).Append(": ").Append(v).Append("\r\n");
        sb.Append("Content-Length: ").Append(body.Length).Append("\r\nConnection: close\r\n\r\n");
        await s.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()));
        if (method == "HEAD") return;

        if (faultKey is not null && _corrupt.TryGetValue(faultKey, out var times) && times > 0)
        {
            _corrupt[faultKey] = times - 1;
            body = (byte[])body.Clone();
            body[body.Length / 2] ^= 0x5A;
        }
        if (faultKey is not null && _cutOnce.TryRemove(faultKey, out var cut) && cut > offset)
        {
            // Send part of the body, then drop the connection: the client sees a body shorter than Content-Length.
            await s.WriteAsync(body.AsMemory(0, (int)(cut - offset)));
            await s.FlushAsync();
            return;
        }
        await s.WriteAsync(body);
    }

    static string Reason(int status) => status switch
    {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Status",
    };

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _stop.Dispose();
    }
}
