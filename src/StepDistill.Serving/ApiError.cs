using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace StepDistill.Serving;

/// <summary>
/// A request the server refuses, answered as OpenAI does: the status and
/// <c>{"error":{"message","type","param","code"}}</c>.
/// </summary>
internal sealed class ApiError(int status, string message, string type = ApiError.InvalidRequest, string? param = null, string? code = null)
    : Exception(message)
{
    public const string InvalidRequest = "invalid_request_error";

    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    /// <summary>Sent as <c>Retry-After</c> (429, 503).</summary>
    public TimeSpan? RetryAfter { get; init; }

    public static ApiError BadRequest(string message, string? param = null, string? code = null) => new(400, message, InvalidRequest, param, code);
    public static ApiError WrongType(string param, string expected) => BadRequest($"'{param}' must be {expected}", param, "invalid_type");

    /// <summary>Writes the error body (and headers) unless the response has already started.</summary>
    public async Task WriteAsync(HttpContext ctx)
    {
        if (ctx.Response.HasStarted) return;
        ctx.Response.Clear();
        ctx.Response.StatusCode = Status;
        if (RetryAfter is { } r) ctx.Response.Headers.RetryAfter = ((int)Math.Ceiling(r.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (Status == 401) ctx.Response.Headers.WWWAuthenticate = "Bearer";
        // An unread oversized body cannot be skipped: say so, send the answer whole, and let Kestrel close.
        if (Status == 413) ctx.Response.Headers.Connection = "close";
        ctx.Response.ContentType = "application/json";
        await ctx.Response.Body.WriteAsync(Body(), ctx.RequestAborted);
        if (Status == 413) await ctx.Response.CompleteAsync();
    }

    /// <summary>The JSON body alone (also sent as an SSE event when a stream fails part-way).</summary>
    public byte[] Body()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartObject("error");
            w.WriteString("message", Message);
            w.WriteString("type", Type);
            if (Param is null) w.WriteNull("param"); else w.WriteString("param", Param);
            if (Code is null) w.WriteNull("code"); else w.WriteString("code", Code);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    /// <summary>The error for a bare status code (no route, wrong method) that an endpoint did not explain.</summary>
    public static ApiError ForStatus(int status, string method, string path) => status switch
    {
        404 => new(404, $"no such endpoint: {method} {path}", InvalidRequest, null, "not_found"),
        405 => new(405, $"method {method} is not allowed on {path}", InvalidRequest, null, "method_not_allowed"),
        413 => new(413, "the request body is too large", InvalidRequest, null, "request_too_large"),
        415 => new(415, "the request body must be JSON (Content-Type: application/json)", InvalidRequest, null, "unsupported_media_type"),
        >= 500 => new(status, "the server failed to handle the request", "server_error"),
        _ => new(status, $"request failed with status {status}", InvalidRequest),
    };
}
