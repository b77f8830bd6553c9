using System.Text;
using System.Text.Json;

namespace StepDistill.Data;

/// <summary>Shared JSON settings for the JSONL files this library writes.</summary>
internal static class JsonLines
{
    // Relaxed escaping keeps non-ASCII text readable; the output is still valid JSON.
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    public static readonly Encoding Utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
}
