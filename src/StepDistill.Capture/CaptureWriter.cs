using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace StepDistill.Capture;

/// <summary>
/// Appends records to a JSONL file: one line per record, written with one call and flushed to the OS before the
/// call returns. Each append holds the file exclusively (an OS-level lock on Unix and Windows), so threads, clients
/// and processes writing the same file never interleave, and a restart appends to what is there. Records are never
/// rewritten; the only repair is cutting an unfinished last line (a crash mid-write), which is no record.
/// </summary>
internal sealed class CaptureWriter
{
    static readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new(StringComparer.Ordinal);
    static readonly JsonWriterOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    readonly string _path;
    readonly SemaphoreSlim _gate;

    public CaptureWriter(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        _path = System.IO.Path.GetFullPath(path);
        _gate = Gates.GetOrAdd(_path, _ => new SemaphoreSlim(1, 1));
        var dir = System.IO.Path.GetDirectoryName(_path);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
    }

    public string Path => _path;

    /// <summary>The UTF-8 JSON line of <paramref name="r"/>, newline included.</summary>
    public static byte[] Line(CaptureRecord r)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, Json))
        {
            w.WriteStartObject();
            w.WriteString(CaptureRecord.Keys.Id, r.Id);
            w.WriteString(CaptureRecord.Keys.Input, r.Input);
            w.WriteString(CaptureRecord.Keys.TeacherLabel, r.TeacherLabel);
            if (r.Model is not null) w.WriteString(CaptureRecord.Keys.Model, r.Model);
            w.WriteString(CaptureRecord.Keys.Time, r.Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            w.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    public async Task AppendAsync(CaptureRecord record, CancellationToken ct)
    {
        var line = Line(record);
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await using var stream = await OpenExclusiveAsync(ct).ConfigureAwait(false);
            var end = stream.Length;
            if (end > 0)
            {
                stream.Position = end - 1;
                if (stream.ReadByte() != '\n') CutUnfinishedLine(stream);
            }
            stream.Position = stream.Length;
            await stream.WriteAsync(line, ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Another process holds the file for a moment: retry for up to a few seconds.</summary>
    async Task<FileStream> OpenExclusiveAsync(CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(_path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException) when (attempt < 200 && File.Exists(_path))
            {
                await Task.Delay(10 + attempt, ct).ConfigureAwait(false);
            }
        }
    }

    static void CutUnfinishedLine(FileStream stream)
    {
        var keep = stream.Length;
        var one = new byte[1];
        while (keep > 0)
        {
            stream.Position = keep - 1;
            stream.ReadExactly(one);
            if (one[0] == '\n') break;
            keep--;
        }
        stream.SetLength(keep);
    }
}
