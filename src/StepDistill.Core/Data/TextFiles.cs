namespace StepDistill.Data;

/// <summary>Whole-file reads with one code path for the sync and async loaders, and line splitting.</summary>
internal sealed class TextFiles(bool async)
{
    public static readonly TextFiles Sync = new(false);
    public static readonly TextFiles Async = new(true);

    /// <summary>
    /// Reads a UTF-8 text file (a leading BOM is skipped); I/O failures and bytes that are not UTF-8 become input
    /// errors naming the file (and line): silently replacing them would train on garbled text.
    /// </summary>
    public async ValueTask<string> ReadAsync(string path, CancellationToken cancellationToken) =>
        Utf8Text.Decode(path, await ReadBytesAsync(path, cancellationToken).ConfigureAwait(false));

    /// <summary>Reads a file's bytes; I/O failures become input errors naming the file.</summary>
    public async ValueTask<byte[]> ReadBytesAsync(string path, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            return async
                ? await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false)
                : File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StepDistillException($"{path}: cannot read: {e.Message}", e);
        }
    }

    /// <summary>
    /// The lines of <paramref name="text"/> with their 1-based numbers. LF or CRLF; the empty piece after a
    /// final newline is not a line.
    /// </summary>
    public static IEnumerable<(int Number, string Text)> Lines(string text)
    {
        var number = 0;
        var start = 0;
        while (start < text.Length)
        {
            var nl = text.IndexOf('\n', start);
            var end = nl < 0 ? text.Length : nl;
            var line = end > start && text[end - 1] == '\r' ? text[start..(end - 1)] : text[start..end];
            yield return (++number, line);
            if (nl < 0) break;
            start = nl + 1;
        }
    }
}

/// <summary>Strict UTF-8 text: invalid bytes are an input error naming the file and line, never replacement characters.</summary>
public static class Utf8Text
{
    /// <summary>Strict UTF-8 decoding; the error names the line of the first invalid byte.</summary>
    public static string Decode(string path, ReadOnlySpan<byte> bytes)
    {
        var bom = bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        var span = bytes[bom..];
        var chars = new char[span.Length];
        var status = System.Text.Unicode.Utf8.ToUtf16(span, chars, out var read, out var written, replaceInvalidSequences: false);
        if (status != System.Buffers.OperationStatus.Done)
        {
            var line = 1 + span[..read].Count((byte)'\n');
            throw new StepDistillException($"{path}:{line}: not valid UTF-8 (byte {bom + read} of the file)");
        }
        return new string(chars, 0, written);
    }

    /// <summary>Reads <paramref name="path"/> as strict UTF-8 (I/O errors propagate).</summary>
    public static string ReadFile(string path) => Decode(path, File.ReadAllBytes(path));
}
