namespace StepDistill.Data;

/// <summary>Whole-file reads with one code path for the sync and async loaders, and line splitting.</summary>
internal sealed class TextFiles(bool async)
{
    public static readonly TextFiles Sync = new(false);
    public static readonly TextFiles Async = new(true);

    /// <summary>Reads a UTF-8 text file; I/O failures become input errors naming the file.</summary>
    public async ValueTask<string> ReadAsync(string path, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            return async
                ? await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)
                : File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StepDistillException($"{path}: cannot read: {e.Message}", e);
        }
    }

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
