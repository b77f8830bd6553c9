using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace StepDistill;

/// <summary>A kind of durable file-system operation, as counted by <see cref="FileOps"/>'s fault injection.</summary>
public enum FileOp
{
    /// <summary>A file or folder is created.</summary>
    Create,
    /// <summary>Bytes are written (a fault here tears the write).</summary>
    Write,
    /// <summary>A file is flushed to disk.</summary>
    Flush,
    /// <summary>A file or folder is renamed (published).</summary>
    Rename,
    /// <summary>A file or folder is deleted.</summary>
    Delete,
    /// <summary>A SQLite transaction commits.</summary>
    Commit,
}

/// <summary>
/// The one way every stage writes files that must survive a crash: atomic file replacement (temporary sibling,
/// flush, rename), flushed appends, atomic directory publication and crash-safe deletion, plus the run-folder lock.
/// Every operation passes through <see cref="Operation"/>, where a test can stop the process (fault injection).
/// </summary>
/// <remarks>
/// Fault injection is for tests only and is off unless the environment says otherwise when the process starts:
/// <c>STEPDISTILL_FAULT_AT=N[:kind]</c> kills the process with SIGKILL (no cleanup, as a crash) at the N-th
/// operation (of that kind, e.g. <c>7:rename</c>); a write is torn first (half its bytes written).
/// <c>STEPDISTILL_FAULT_TRACE=file</c> appends one line per operation (<c>N kind path</c>) to that file.
/// Both variables are read once and removed from the environment, so child processes do not inherit them.
/// </remarks>
public static partial class FileOps
{
    const string FaultAtVariable = "STEPDISTILL_FAULT_AT";
    const string FaultTraceVariable = "STEPDISTILL_FAULT_TRACE";
    /// <summary>The exit status a fault-injected stop reports where SIGKILL is not available.</summary>
    public const int FaultExitCode = 86;

    static readonly int FaultAt;
    static readonly FileOp? FaultKind;
    static readonly string? TracePath;
    static readonly Lock TraceLock = new();
    static int counter, kindCounter;

    static FileOps()
    {
        var at = Environment.GetEnvironmentVariable(FaultAtVariable);
        TracePath = Environment.GetEnvironmentVariable(FaultTraceVariable);
        Environment.SetEnvironmentVariable(FaultAtVariable, null);
        Environment.SetEnvironmentVariable(FaultTraceVariable, null);
        if (string.IsNullOrEmpty(at)) return;
        var parts = at.Split(':');
        if (!int.TryParse(parts[0], out FaultAt) || FaultAt < 1
            || (parts.Length > 1 && !Enum.TryParse<FileOp>(parts[1], ignoreCase: true, out var kind)))
            throw new StepDistillException($"{FaultAtVariable}={at}: expected N or N:kind (kind: " +
                $"{string.Join(", ", Enum.GetNames<FileOp>()).ToLowerInvariant()})");
        if (parts.Length > 1) FaultKind = Enum.Parse<FileOp>(parts[1], ignoreCase: true);
    }

    /// <summary>
    /// Counts one durable operation about to happen on <paramref name="path"/>; under fault injection, the process
    /// stops here when this is the chosen operation. Call sites outside this class use it for what it cannot do
    /// itself (a SQLite commit). <paramref name="tear"/> runs just before the stop (a torn write).
    /// </summary>
    public static void Operation(FileOp kind, string path, Action? tear = null)
    {
        if (FaultAt == 0 && TracePath is null) return;
        var n = Interlocked.Increment(ref counter);
        var k = FaultKind == kind ? Interlocked.Increment(ref kindCounter) : 0;
        if (TracePath is not null)
            lock (TraceLock) File.AppendAllText(TracePath, $"{n} {kind.ToString().ToLowerInvariant()} {path}\n");
        if (FaultAt > 0 && (FaultKind is null ? n == FaultAt : k == FaultAt))
        {
            tear?.Invoke();
            Console.Error.WriteLine($"fault injection: stopping at operation {n} ({kind.ToString().ToLowerInvariant()} {path})");
            Console.Error.Flush();
            if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) _ = Kill(Environment.ProcessId, 9);
            Environment.FailFast($"fault injection at operation {n}");
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    // ---- files -------------------------------------------------------------------------------------------

    /// <summary>Replaces <paramref name="path"/> with <paramref name="text"/> (UTF-8, no BOM) atomically.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, new UTF8Encoding(false).GetBytes(text));

    /// <summary>Replaces <paramref name="path"/> with <paramref name="bytes"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>
    /// Writes through <paramref name="write"/> into a temporary sibling, flushes it to disk, then renames it over
    /// <paramref name="path"/>: readers (and a process restarted after a crash) see the old file or the new one.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var tmp = TemporarySibling(full);
        try
        {
            Operation(FileOp.Create, tmp);
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                DiskFullFault.ThrowIfSet(tmp);
                using (var counted = new OperationStream(fs, tmp)) write(counted);
                Operation(FileOp.Flush, tmp);
                fs.Flush(flushToDisk: true);
            }
            Operation(FileOp.Rename, full);
            File.Move(tmp, full, overwrite: true);
        }
        catch (IOException e) when (DiskFullFault.IsDiskFull(e))
        {
            // The old file is untouched (only the temporary sibling was written); say which file could not be.
            throw new StepDistillException($"{full}: cannot write it: no space left on the device (the previous version, if any, is kept)", e);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Appends one flushed chunk (e.g. a JSON line) to <paramref name="path"/>, creating it if needed.</summary>
    public static void Append(string path, ReadOnlySpan<byte> bytes, bool toDisk = true)
    {
        using var file = OpenAppend(path);
        file.Append(bytes, toDisk);
    }

    /// <summary>Opens <paramref name="path"/> for appending flushed chunks (created if missing; others may read).</summary>
    public static AppendFile OpenAppend(string path)
    {
        Operation(FileOp.Create, path);
        return new AppendFile(path);
    }

    /// <summary>A file opened for appending: each chunk is written whole, then flushed.</summary>
    public sealed class AppendFile : IDisposable, IAsyncDisposable
    {
        readonly FileStream stream;
        readonly string path;

        internal AppendFile(string path)
        {
            this.path = path;
            stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        }

        /// <summary>Writes and flushes <paramref name="bytes"/> (to the OS, or to disk with <paramref name="toDisk"/>).</summary>
        public void Append(ReadOnlySpan<byte> bytes, bool toDisk = false)
        {
            var copy = bytes.ToArray();
            Operation(FileOp.Write, path, () => { stream.Write(copy, 0, copy.Length / 2); stream.Flush(); });
            stream.Write(copy);
            Operation(FileOp.Flush, path);
            stream.Flush(flushToDisk: toDisk);
        }

        /// <summary>As <see cref="Append"/>; not cancellable once started (a half-written chunk is what we avoid).</summary>
        public async Task AppendAsync(byte[] bytes, bool toDisk = false)
        {
            Operation(FileOp.Write, path, () => { stream.Write(bytes, 0, bytes.Length / 2); stream.Flush(); });
            await stream.WriteAsync(bytes, CancellationToken.None);
            Operation(FileOp.Flush, path);
            if (toDisk) stream.Flush(flushToDisk: true);
            else await stream.FlushAsync(CancellationToken.None);
        }

        /// <summary>Closes the file.</summary>
        public void Dispose() => stream.Dispose();
        /// <summary>Closes the file.</summary>
        public ValueTask DisposeAsync() => stream.DisposeAsync();
    }

    /// <summary>Opens a log file for appending. Only the opening is counted: a log's chunks carry no state to resume.</summary>
    public static FileStream OpenLog(string path)
    {
        Operation(FileOp.Create, path);
        return new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
    }

    /// <summary>Deletes a file if it exists.</summary>
    public static void DeleteFile(string path)
    {
        if (!File.Exists(path)) return;
        Operation(FileOp.Delete, path);
        File.Delete(path);
    }

    // ---- directories -------------------------------------------------------------------------------------

    /// <summary>Creates <paramref name="path"/> and its parents if missing.</summary>
    public static void CreateDirectory(string path)
    {
        if (Directory.Exists(path)) return;
        Operation(FileOp.Create, path);
        Directory.CreateDirectory(path);
    }

    /// <summary>A new empty hidden folder beside <paramref name="final"/>, to fill and then <see cref="PublishDirectory"/>.</summary>
    public static string CreateTemporaryDirectory(string final)
    {
        var tmp = TemporarySibling(Path.GetFullPath(final));
        Operation(FileOp.Create, tmp);
        Directory.CreateDirectory(tmp);
        return tmp;
    }

    /// <summary>
    /// Puts the complete folder <paramref name="tmp"/> in place of <paramref name="final"/>. At every instant
    /// <paramref name="final"/> is either the old complete folder or the new one, never missing or partial:
    /// an existing folder is swapped atomically (Linux <c>renameat2(RENAME_EXCHANGE)</c>), then deleted.
    /// Where the swap is not supported, the old folder is first renamed to <c>final.old</c>, and
    /// <see cref="RecoverDirectory"/> puts it back after a crash between the two renames.
    /// </summary>
    public static void PublishDirectory(string tmp, string final)
    {
        final = Path.GetFullPath(final);
        if (!Directory.Exists(final))
        {
            Operation(FileOp.Rename, final);
            Directory.Move(tmp, final);
            return;
        }
        Operation(FileOp.Rename, final);
        if (OperatingSystem.IsLinux() && RenameAt2(-100 /* AT_FDCWD */, tmp, -100, final, 2 /* RENAME_EXCHANGE */) == 0)
        {
            DeleteDirectory(tmp); // now holds the old folder
            return;
        }
        var old = final + ".old";
        DeleteDirectory(old);
        Directory.Move(final, old);
        Operation(FileOp.Rename, final);
        Directory.Move(tmp, final);
        DeleteDirectory(old);
    }

    [LibraryImport("libc", EntryPoint = "renameat2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    /// <summary>After a crash inside <see cref="PublishDirectory"/>'s fallback, puts the old folder back in place.</summary>
    public static void RecoverDirectory(string final)
    {
        final = Path.GetFullPath(final);
        var old = final + ".old";
        if (Directory.Exists(final) || !Directory.Exists(old)) return;
        Operation(FileOp.Rename, final);
        Directory.Move(old, final);
    }

    /// <summary>
    /// Deletes a folder so that a crash never leaves it half deleted under its own name: it is first renamed to a
    /// hidden sibling (removed by <see cref="RemoveLeftovers"/> if the deletion is interrupted).
    /// </summary>
    public static void DeleteDirectory(string path)
    {
        path = Path.GetFullPath(path);
        if (!Directory.Exists(path)) return;
        var trash = Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.deleting");
        Operation(FileOp.Rename, path);
        Directory.Move(path, trash);
        Operation(FileOp.Delete, trash);
        Directory.Delete(trash, recursive: true);
    }

    /// <summary>
    /// Removes the temporary files and folders a crash left in <paramref name="directory"/> (only those of
    /// <paramref name="name"/> when given; others may belong to a process still running).
    /// </summary>
    public static void RemoveLeftovers(string directory, string? name = null)
    {
        if (!Directory.Exists(directory)) return;
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory, "." + (name ?? "*") + ".*"))
        {
            var match = Leftover().Match(Path.GetFileName(entry));
            if (!match.Success || (name is not null && match.Groups[1].Value != name)) continue;
            Operation(FileOp.Delete, entry);
            if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
            else File.Delete(entry);
        }
    }

    [GeneratedRegex(@"^\.(.+)\.[0-9a-f]{32}\.(tmp|deleting)$")]
    private static partial Regex Leftover();

    static string TemporarySibling(string full) =>
        Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");

    // ---- one writer at a time ----------------------------------------------------------------------------

    /// <summary>
    /// Takes an exclusive OS lock on <paramref name="lockPath"/> (released when disposed, or by the OS when the
    /// process dies, even by SIGKILL), or throws at once naming <paramref name="what"/> when another process holds it.
    /// </summary>
    public static IDisposable AcquireLock(string lockPath, string what)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(lockPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        try
        {
            // FileShare.None is an exclusive flock() on Unix: not a marker file, so a crash leaves nothing stale.
            return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException && File.Exists(lockPath))
        {
            throw new StepDistillException($"{what}: another process is writing it (lock {lockPath} is held); wait for it to finish, or stop it first");
        }
    }

    /// <summary>Counts each written chunk as one <see cref="FileOp.Write"/>; a stop there leaves a torn file.</summary>
    sealed class OperationStream(FileStream inner, string path) : Stream
    {
        bool counted;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            // One operation per file (its first chunk): chunking is an implementation detail, and the sweep stays short.
            if (!counted)
            {
                counted = true;
                var half = buffer[..(buffer.Length / 2)].ToArray();
                Operation(FileOp.Write, path, () => { inner.Write(half); inner.Flush(); });
            }
            inner.Write(buffer);
        }

        public override void WriteByte(byte value) => Write([value]);
        protected override void Dispose(bool disposing) { } // the caller owns the file stream
    }
}
