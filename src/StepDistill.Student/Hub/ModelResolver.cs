using System.Text.Json;
using StepDistill.Student.Model;

namespace StepDistill.Student.Hub;

/// <summary>
/// Turns what a user passes as <c>--model</c> into a local folder: an existing folder as is, otherwise a Hugging Face
/// Hub id (<c>org/name</c>, <c>name</c>, either with <c>@revision</c>) looked up in, and if needed downloaded into,
/// the cache Python's huggingface_hub uses, so models are shared both ways without a second download.
/// </summary>
public static class ModelResolver
{
    /// <summary>
    /// True when <paramref name="modelArg"/> is meant as a folder rather than a Hub id (starts with <c>.</c>, <c>/</c>
    /// or <c>~</c>, has a backslash or more than one <c>/</c>): a missing one is "folder not found", not a bad id.
    /// </summary>
    public static bool LooksLikePath(string modelArg)
    {
        ArgumentNullException.ThrowIfNull(modelArg);
        return modelArg.StartsWith('.') || modelArg.StartsWith('/') || modelArg.StartsWith('~') ||
               modelArg.Contains('\\') || modelArg.Count(c => c == '/') > 1;
    }

    /// <summary>
    /// Returns the folder holding the model: <paramref name="modelArg"/> itself when it is an existing folder,
    /// else the cache snapshot folder <c>.../models--org--name/snapshots/&lt;commit&gt;/</c>. A model already complete
    /// in the cache is used without any request; otherwise the missing files are downloaded (unless offline).
    /// </summary>
    /// <param name="modelArg">A folder path, or <c>org/name[@revision]</c> (branch, tag or commit).</param>
    /// <param name="options">Hub settings; null reads them from the environment (HF_ENDPOINT, HF_HUB_CACHE, HF_HOME, HF_TOKEN, HF_HUB_OFFLINE).</param>
    /// <param name="progress">Receives per-file download progress (nothing is reported when no download happens).</param>
    /// <param name="ct">Cancels the download; a partial file is kept and resumed by the next call.</param>
    /// <exception cref="StepDistillException">Unknown model or revision, no network, gated model without token,
    /// offline with the model not in the cache, a download that failed verification, or a model that is not a T5.</exception>
    public static async Task<string> ResolveAsync(string modelArg, HubOptions? options = null,
        IProgress<HubDownloadProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(modelArg);
        if (Directory.Exists(modelArg))
        {
            var folder = Path.GetFullPath(modelArg);
            if (File.Exists(Path.Combine(folder, T5Files.Config))) CheckIsT5(folder, folder);
            return folder;
        }

        var id = ModelId.TryParse(modelArg.Trim(), out var why);
        if (id is null)
        {
            throw new StepDistillException(LooksLikePath(modelArg)
                ? $"model folder '{modelArg}' not found"
                : $"'{modelArg}' is neither an existing folder nor a Hugging Face model id: {why}");
        }

        options ??= new HubOptions();
        var cache = new HubCache(options.CacheDir, id);

        // Cache first: a complete snapshot needs no request at all.
        var cachedCommit = cache.TryGetCommit();
        if (cachedCommit is not null && T5Files.Missing(cache.SnapshotDir(cachedCommit)).Count == 0)
        {
            var snapshot = cache.SnapshotDir(cachedCommit);
            CheckIsT5(snapshot, id.ToString());
            return snapshot;
        }

        if (options.Offline)
        {
            if (cachedCommit is null)
                throw new StepDistillException(
                    $"offline mode (HF_HUB_OFFLINE=1) and {id} is not in the Hugging Face cache at {cache.CacheDir} " +
                    $"(no {(id.RevisionIsCommit ? "snapshots/" + id.Revision : "refs/" + id.Revision)} in {cache.RepoDir}); " +
                    "download it once with network access, or pass a local folder");
            var missing = T5Files.Missing(cache.SnapshotDir(cachedCommit));
            throw new StepDistillException(
                $"offline mode (HF_HUB_OFFLINE=1) and the cached snapshot {cachedCommit} of {id} lacks: {string.Join(", ", missing)} " +
                $"(in {cache.SnapshotDir(cachedCommit)}); unset HF_HUB_OFFLINE to download them");
        }

        try
        {
            using var client = new HubClient(options);
            var commit = await DownloadAsync(client, cache, id, options, progress, ct).ConfigureAwait(false);
            var snapshot = cache.SnapshotDir(commit);
            CheckIsT5(snapshot, id.ToString());
            return snapshot;
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StepDistillException($"cannot write to the Hugging Face cache at {cache.CacheDir}: {e.Message} " +
                                           "(set HF_HUB_CACHE or HF_HOME to a writable folder)", e);
        }
    }

    static async Task<string> DownloadAsync(HubClient client, HubCache cache, ModelId id, HubOptions options,
        IProgress<HubDownloadProgress>? progress, CancellationToken ct)
    {
        var (commit, siblings) = await client.GetRepoInfoAsync(id, ct).ConfigureAwait(false);
        if (id.RevisionIsCommit && commit != id.Revision)
            throw new StepDistillException($"the Hub resolved commit {id.Revision} of {id.RepoId} to {commit}; refusing a different commit");
        var (files, weights, kind) = T5Files.Choose(id, siblings);
        cache.WriteRef(commit);

        foreach (var file in files)
            await FetchFileAsync(client, cache, id, commit, file, options, progress, ct).ConfigureAwait(false);

        if (kind == T5Files.WeightsKind.Index)
        {
            var shards = T5Files.ShardsOf(cache.PointerPath(commit, weights));
            var listed = new HashSet<string>(siblings, StringComparer.Ordinal);
            var absent = shards.Where(s => !listed.Contains(s)).ToList();
            if (absent.Count > 0)
                throw new StepDistillException($"{weights} of {id} names shards the repository does not have: {string.Join(", ", absent)}");
            foreach (var shard in shards)
                await FetchFileAsync(client, cache, id, commit, shard, options, progress, ct).ConfigureAwait(false);
        }

        var missing = T5Files.Missing(cache.SnapshotDir(commit));
        if (missing.Count > 0)
            throw new StepDistillException($"after downloading {id}, the snapshot still lacks: {string.Join(", ", missing)}");
        return commit;
    }

    /// <summary>
    /// Puts one file into the snapshot: skipped when the snapshot already has it (for example from Python),
    /// linked when its blob is already cached, else downloaded to <c>blobs/&lt;etag&gt;.incomplete</c>, checked and
    /// renamed into place. Only a verified file ever carries the blob's final name.
    /// </summary>
    static async Task FetchFileAsync(HubClient client, HubCache cache, ModelId id, string commit, string file,
        HubOptions options, IProgress<HubDownloadProgress>? progress, CancellationToken ct)
    {
        if (HubCache.Usable(cache.PointerPath(commit, file))) return;

        var meta = await client.GetFileMetaAsync(id, commit, file, ct).ConfigureAwait(false);
        var blob = cache.BlobPath(meta.Etag);
        if (!BlobComplete(blob, meta))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
            using var fileLock = await AcquireLockAsync(cache.LockPath(meta.Etag), ct).ConfigureAwait(false);
            // Another process may have finished it while we waited for the lock.
            if (!BlobComplete(blob, meta))
                await DownloadVerifiedAsync(client, cache, id, meta, options, progress, ct).ConfigureAwait(false);
        }
        cache.Link(commit, file, meta.Etag);
        progress?.Report(new HubDownloadProgress(id.RepoId, file, meta.Size ?? new FileInfo(blob).Length, meta.Size, true));
    }

    static bool BlobComplete(string blob, HubFileMeta meta) =>
        File.Exists(blob) && (meta.Size is not { } size || new FileInfo(blob).Length == size);

    static async Task DownloadVerifiedAsync(HubClient client, HubCache cache, ModelId id, HubFileMeta meta,
        HubOptions options, IProgress<HubDownloadProgress>? progress, CancellationToken ct)
    {
        var incomplete = cache.IncompletePath(meta.Etag);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await client.DownloadAsync(id, meta, incomplete,
                    done => progress?.Report(new HubDownloadProgress(id.RepoId, meta.File, done, meta.Size, false)), ct)
                    .ConfigureAwait(false);
            }
            catch (IOException e) when (!ct.IsCancellationRequested)
            {
                // Interrupted: the partial file stays, and the next attempt (or the next run) continues it.
                if (attempt < options.MaxRetries) continue;
                long have = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
                throw new StepDistillException(
                    $"download of {meta.File} of {id} was interrupted after {have:N0} of {(meta.Size is { } s ? s.ToString("N0") : "?")} bytes " +
                    $"({e.Message}); the partial file is kept, so running the command again resumes it", e);
            }

            var problem = await HubClient.VerifyAsync(meta, incomplete, ct).ConfigureAwait(false);
            if (problem is null)
            {
                File.Move(incomplete, cache.BlobPath(meta.Etag), overwrite: true);
                return;
            }
            // Corrupted: a resumed copy of bad bytes would stay bad, so the next attempt starts from zero.
            File.Delete(incomplete);
            if (attempt >= options.MaxRetries)
                throw new StepDistillException(
                    $"download of {meta.File} of {id} failed verification ({problem}, as reported by the Hub) " +
                    $"{attempt + 1} time(s); nothing was kept in the cache");
        }
    }

    /// <summary>An exclusive lock file in <c>.locks/</c>, as huggingface_hub keeps one per blob being downloaded,
    /// so two processes never write the same blob.</summary>
    static async Task<FileStream> AcquireLockAsync(string path, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(30);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reads config.json and refuses a model whose <c>model_type</c> is not a T5 (the message names it).</summary>
    internal static void CheckIsT5(string folder, string label)
    {
        var path = Path.Combine(folder, T5Files.Config);
        string? modelType;
        List<string> architectures = [];
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new StepDistillException($"{path}: expected a JSON object");
            modelType = doc.RootElement.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String
                ? mt.GetString() : null;
            if (doc.RootElement.TryGetProperty("architectures", out var arch) && arch.ValueKind == JsonValueKind.Array)
                architectures = arch.EnumerateArray().Select(a => a.GetString() ?? "").ToList();
        }
        catch (JsonException e)
        {
            throw new StepDistillException($"{path}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e);
        }
        T5Config.CheckModelType(modelType, path, label);
        if (architectures.Count > 0 && architectures.All(a => a == "T5EncoderModel"))
            throw new StepDistillException(
                $"{label} is a T5 encoder only (architectures: T5EncoderModel); a student needs the decoder too, " +
                "for example google/flan-t5-small");
    }
}
