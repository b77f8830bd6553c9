using System.Globalization;
using System.Text.Json;

namespace StepDistill.Data;

/// <summary>
/// The one JSONL reader and writer of the toolkit: every file of records (datasets, annotation input and output,
/// predictions) is read and written here, so every such file reports errors as <c>path:line: message</c> and
/// follows the same <c>id</c> rule (<see cref="IdOrLine"/>).
/// </summary>
public static class Jsonl
{
    // Relaxed escaping keeps non-ASCII text readable; the output is still valid JSON.
    internal static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    /// <summary>Buffered bytes written to the stream at once.</summary>
    const int FlushBytes = 1 << 16;

    /// <summary>The error for line <paramref name="line"/> of <paramref name="path"/>: <c>path:line: message</c>.</summary>
    public static StepDistillException Error(string path, int line, string message, Exception? inner = null) =>
        new($"{path}:{line}: {message}", inner);

    /// <summary>
    /// The JSON objects of <paramref name="text"/> (the content of <paramref name="path"/>) with their 1-based line
    /// numbers; blank lines are skipped. Each element is valid until the enumeration moves on
    /// (<see cref="JsonElement.Clone"/> keeps one).
    /// </summary>
    public static IEnumerable<(int Line, JsonElement Record)> Records(string path, string text)
    {
        foreach (var (number, line) in TextFiles.Lines(text))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = ParseLine(path, number, line);
            yield return (number, doc.RootElement);
        }
    }

    /// <summary>Parses one line that must hold a JSON object; the caller disposes the document.</summary>
    public static JsonDocument ParseLine(string path, int number, string line)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw Error(path, number, $"malformed JSON at byte {e.BytePositionInLine ?? 0} ({StripLocation(e.Message)})", e);
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw Error(path, number, "expected a JSON object");
        }
        return doc;
    }

    /// <summary>A string field, null when absent or JSON null; any other type is an error.</summary>
    public static string? OptionalString(string path, int number, JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String)
            throw Error(path, number, $"field '{name}' must be a string, not {Kind(v)}");
        return v.GetString();
    }

    /// <summary>A string or number field as text (numbers as written), null when absent or JSON null.</summary>
    public static string? OptionalScalar(string path, int number, JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.GetRawText(),
            _ => throw Error(path, number, $"field '{name}' must be a string or a number, not {Kind(v)}"),
        };
    }

    /// <summary>
    /// The record's <c>id</c>: a string or a number (as written); without one, the 1-based line number. Callers keep
    /// ids unique with <see cref="CheckUnique"/>.
    /// </summary>
    public static string IdOrLine(string path, int number, JsonElement obj) =>
        OptionalScalar(path, number, obj, "id") ?? number.ToString(CultureInfo.InvariantCulture);

    /// <summary>Records <paramref name="id"/> as seen on <paramref name="number"/>; a second sighting is an error naming both lines.</summary>
    public static void CheckUnique(Dictionary<string, int> seen, string id, string path, int number)
    {
        if (!seen.TryAdd(id, number)) throw Error(path, number, $"duplicate id '{id}' (first on line {seen[id]})");
    }

    /// <summary>"a number", "an array", ...: how an error names a JSON value's type.</summary>
    public static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.Null => "null",
        _ => v.ValueKind.ToString().ToLowerInvariant(),
    };

    /// <summary>System.Text.Json's message without its appended "LineNumber: 0 | BytePositionInLine: n." (our errors name the line).</summary>
    public static string StripLocation(string message)
    {
        var i = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (i < 0 ? message : message[..i]).TrimEnd();
    }

    /// <summary>One record as a line: the object <paramref name="write"/> writes, then LF (UTF-8).</summary>
    public static byte[] Line(Action<Utf8JsonWriter> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var buffer = new MemoryStream();
        AppendLine(buffer, write);
        return buffer.ToArray();
    }

    /// <summary>
    /// Writes one line per item to <paramref name="path"/> (replacing it; the parent folder is created):
    /// <paramref name="header"/> first when given, then <paramref name="write"/> for each item.
    /// </summary>
    public static async Task WriteAsync<T>(string path, IEnumerable<T> items, Action<Utf8JsonWriter, T> write,
        Action<Utf8JsonWriter>? header = null, CancellationToken cancellationToken = default)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        await using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, FlushBytes, useAsync: true);
        await WriteAsync(stream, items, write, header, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes one line per item to <paramref name="stream"/> (UTF-8, LF) and flushes it.</summary>
    public static async Task WriteAsync<T>(Stream stream, IEnumerable<T> items, Action<Utf8JsonWriter, T> write,
        Action<Utf8JsonWriter>? header = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(write);
        var buffer = new MemoryStream();
        if (header is not null) AppendLine(buffer, header);
        foreach (var item in items)
        {
            cancellationToken.ThrowIfCancellationRequested();
            AppendLine(buffer, w => write(w, item));
            if (buffer.Length > FlushBytes) await Flush().ConfigureAwait(false);
        }
        await Flush().ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);

        async Task Flush()
        {
            await stream.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken).ConfigureAwait(false);
            buffer.SetLength(0);
        }
    }

    static void AppendLine(MemoryStream buffer, Action<Utf8JsonWriter> write)
    {
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(w);
        }
        buffer.WriteByte((byte)'\n');
    }
}
