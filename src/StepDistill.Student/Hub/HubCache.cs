namespace StepDistill.Student.Hub;

/// <summary>
/// One repository's folder in the Hugging Face hub cache, laid out exactly as Python's huggingface_hub does:
/// <c>models--org--name/blobs/&lt;etag&gt;</c> (file contents), <c>refs/&lt;revision&gt;</c> (a commit hash),
/// <c>snapshots/&lt;commit&gt;/&lt;file&gt;</c> (relative symlinks to the blobs), <c>.locks/</c> beside the repositories.
/// </summary>
internal sealed class HubCache(string cacheDir, ModelId id)
{
    internal string CacheDir { get; } = Path.GetFullPath(cacheDir);
    internal string RepoDir => Path.Combine(CacheDir, id.CacheFolderName);
    internal string SnapshotDir(string commit) => Path.Combine(RepoDir, "snapshots", commit);
    internal string BlobPath(string etag) => Path.Combine(RepoDir, "blobs", etag);
    internal string IncompletePath(string etag) => BlobPath(etag) + ".incomplete";
    internal string RefPath(string revision) => Path.Combine(RepoDir, "refs", ToLocalPath(revision));
    internal string LockPath(string etag) => Path.Combine(CacheDir, ".locks", id.CacheFolderName, etag + ".lock");
    internal string PointerPath(string commit, string file) => Path.Combine(SnapshotDir(commit), ToLocalPath(file));

    /// <summary>The commit the revision points to in the cache, or null when the cache does not know it.</summary>
    internal string? TryGetCommit()
    {
        if (id.RevisionIsCommit) return Directory.Exists(SnapshotDir(id.Revision)) ? id.Revision : null;
        var refFile = RefPath(id.Revision);
        if (!File.Exists(refFile)) return null;
        var commit = File.ReadAllText(refFile).Trim();
        return ModelId.IsCommitHash(commit) ? commit : null;
    }

    /// <summary>Records that <c>revision</c> points to <paramref name="commit"/> (written atomically).</summary>
    internal void WriteRef(string commit)
    {
        if (id.Revision == commit) return; // a commit needs no ref, as in huggingface_hub
        var refFile = RefPath(id.Revision);
        Directory.CreateDirectory(Path.GetDirectoryName(refFile)!);
        FileOps.WriteAllText(refFile, commit); // no newline, as huggingface_hub writes it
    }

    /// <summary>
    /// Points <c>snapshots/&lt;commit&gt;/&lt;file&gt;</c> at the blob with a relative symlink (so the cache can be moved),
    /// replacing whatever was there. Where symlinks are not allowed the blob is copied instead.
    /// </summary>
    internal void Link(string commit, string file, string etag)
    {
        var pointer = PointerPath(commit, file);
        var dir = Path.GetDirectoryName(pointer)!;
        Directory.CreateDirectory(dir);
        var target = Path.GetRelativePath(dir, BlobPath(etag));
        var tmp = Path.Combine(dir, "." + Path.GetFileName(pointer) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            File.CreateSymbolicLink(tmp, target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            File.Copy(BlobPath(etag), tmp, overwrite: true);
        }
        // A rename replaces the old pointer in one step: a reader sees the old file or the new one, never none.
        File.Move(tmp, pointer, overwrite: true);
    }

    /// <summary>True when <paramref name="path"/> is a regular file, or a link whose final target is one.</summary>
    internal static bool Usable(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) return false;
        if (info.LinkTarget is null) return true;
        try { return info.ResolveLinkTarget(returnFinalTarget: true) is { Exists: true }; }
        catch (IOException) { return false; }
    }

    static string ToLocalPath(string repoPath) => repoPath.Replace('/', Path.DirectorySeparatorChar);
}
