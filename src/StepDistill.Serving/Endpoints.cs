using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace StepDistill.Serving;

/// <summary>The generating endpoints: OpenAI's chat and text completions (plain and streamed) and the native batch predict.</summary>
public sealed partial class StudentServer
{
    static readonly byte[] Done = Encoding.UTF8.GetBytes("data: [DONE]\n\n");

    static int MaxNew(IServedModel m, int? requested) => Math.Min(requested ?? m.MaxNewTokens, m.MaxNewTokens);

    /// <summary>Refuses (400) an input longer than the model takes, rather than silently cutting it.</summary>
    static void CheckLength(IServedModel m, string input, string param)
    {
        var n = m.CountInputTokens(input);
        if (n > m.MaxInputTokens)
            throw ApiError.BadRequest($"the input is {n} tokens; this model takes at most {m.MaxInputTokens}", param, "context_length_exceeded");
    }

    static string FinishReason(bool stopped, ServedResult r) => stopped || !r.HitTokenLimit ? "stop" : "length";

    async Task ChatAsync(HttpContext ctx, IServedModel model, JsonElement root, CancellationToken ct)
    {
        var name = ServedName(model);
        var r = Requests.ParseChat(root, name);
        var input = r.Inputs[0];
        CheckLength(model, input, "messages");
        var maxNew = MaxNew(model, r.MaxTokens);
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (r.Stream)
        {
            await StreamAsync(ctx, model, input, maxNew, r, chat: true, id, created, ct);
            return;
        }
        var result = (await model.CompleteAsync([input], false, maxNew, ct))[0];
        var (text, stopped) = StopSequences.Apply(result.Text, r.Stop);
        Metrics(ctx).Tokens(result.InputTokens, result.OutputTokens);
        await WriteJsonAsync(ctx, w =>
        {
            WriteEnvelope(w, id, "chat.completion", created, name);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteStartObject("message");
            w.WriteString("role", "assistant");
            w.WriteString("content", text);
            w.WriteEndObject();
            w.WriteNull("logprobs");
            w.WriteString("finish_reason", FinishReason(stopped, result));
            w.WriteEndObject();
            w.WriteEndArray();
            WriteUsage(w, result.InputTokens, result.OutputTokens);
        });
    }

    async Task CompletionsAsync(HttpContext ctx, IServedModel model, JsonElement root, CancellationToken ct)
    {
        var name = ServedName(model);
        var r = Requests.ParseCompletion(root, name, _options.MaxInputsPerRequest);
        for (var i = 0; i < r.Inputs.Count; i++) CheckLength(model, r.Inputs[i], r.Inputs.Count == 1 ? "prompt" : $"prompt[{i}]");
        var maxNew = MaxNew(model, r.MaxTokens);
        var id = "cmpl-" + Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (r.Stream)
        {
            await StreamAsync(ctx, model, r.Inputs[0], maxNew, r, chat: false, id, created, ct);
            return;
        }
        // The prompts join the shared decoding batch with everyone else's (queued all at once, or refused with 429).
        var results = await model.CompleteAsync(r.Inputs, false, maxNew, ct);
        int inTok = results.Sum(x => x.InputTokens), outTok = results.Sum(x => x.OutputTokens);
        Metrics(ctx).Tokens(inTok, outTok);
        await WriteJsonAsync(ctx, w =>
        {
            WriteEnvelope(w, id, "text_completion", created, name);
            w.WriteStartArray("choices");
            for (var i = 0; i < results.Count; i++)
            {
                var (text, stopped) = StopSequences.Apply(results[i].Text, r.Stop);
                w.WriteStartObject();
                w.WriteString("text", text);
                w.WriteNumber("index", i);
                w.WriteNull("logprobs");
                w.WriteString("finish_reason", FinishReason(stopped, results[i]));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            WriteUsage(w, inTok, outTok);
        });
    }

    async Task PredictAsync(HttpContext ctx, IServedModel model, JsonElement root, CancellationToken ct)
    {
        var name = ServedName(model);
        var r = Requests.ParsePredict(root, name, _options.MaxInputsPerRequest);
        if (r.Explain && !model.CanExplain)
            throw ApiError.BadRequest("'explain' needs a step-by-step student; this one was not trained to write rationales", "explain", "unsupported_parameter");
        for (var i = 0; i < r.Inputs.Count; i++) CheckLength(model, r.Inputs[i], $"inputs[{i}]");
        var maxNew = MaxNew(model, r.MaxTokens);
        var labelsTask = model.CompleteAsync(r.Inputs, false, maxNew, ct);
        // Rationales get the model's own (longer) rationale limit; max_new_tokens is for labels.
        var rationales = r.Explain ? await model.CompleteAsync(r.Inputs, true, null, ct) : [];
        var labels = await labelsTask;
        var all = labels.Concat(rationales).ToList();
        int inTok = all.Sum(x => x.InputTokens), outTok = all.Sum(x => x.OutputTokens);
        Metrics(ctx).Tokens(inTok, outTok);
        await WriteJsonAsync(ctx, w =>
        {
            w.WriteString("object", "predictions");
            w.WriteString("model", name);
            w.WriteStartArray("predictions");
            for (var i = 0; i < labels.Count; i++)
            {
                w.WriteStartObject();
                w.WriteNumber("index", i);
                w.WriteString("label", labels[i].Text);
                if (r.Explain) w.WriteString("rationale", rationales[i].Text);
                w.WriteString("finish_reason", FinishReason(false, labels[i]));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            WriteUsage(w, inTok, outTok);
        });
    }

    /// <summary>
    /// Server-sent events in OpenAI's chunk format, ending with <c>data: [DONE]</c>. The first piece is awaited
    /// before any byte is sent, so a full queue is still a plain 429.
    /// </summary>
    async Task StreamAsync(HttpContext ctx, IServedModel model, string input, int maxNew, GenerationRequest r, bool chat, string id, long created, CancellationToken ct)
    {
        var name = ServedName(model);
        await using var e = model.StreamAsync(input, maxNew, ct).GetAsyncEnumerator(ct);
        var has = await e.MoveNextAsync();
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "text/event-stream";
        ctx.Response.Headers.CacheControl = "no-cache";
        await ctx.Response.StartAsync(ct);
        var body = ctx.Response.Body;
        var stops = new StopSequences(r.Stop);
        ServedResult? final = null;

        async Task Chunk(string? role, string? content, string? finish)
        {
            var json = ChunkJson(chat, id, created, name, role, content, finish);
            await body.WriteAsync(Encoding.UTF8.GetBytes("data: " + json + "\n\n"), ct);
            await body.FlushAsync(ct);
        }

        try
        {
            if (chat) await Chunk("assistant", "", null);
            while (has)
            {
                if (e.Current.Final is { } f) final = f;
                var text = stops.Push(e.Current.Text);
                if (text.Length > 0) await Chunk(null, text, null);
                // After a stop sequence the generation runs to its end (bounded by max tokens) so usage is exact.
                has = await e.MoveNextAsync();
            }
            var rest = stops.Flush();
            if (rest.Length > 0) await Chunk(null, rest, null);
            var usage = final ?? new ServedResult("", model.CountInputTokens(input), 0, false);
            await Chunk(null, null, FinishReason(stops.Stopped, usage));
            Metrics(ctx).Tokens(usage.InputTokens, usage.OutputTokens);
            if (r.IncludeUsage)
            {
                var json = Json(w =>
                {
                    WriteEnvelope(w, id, chat ? "chat.completion.chunk" : "text_completion", created, name);
                    w.WriteStartArray("choices");
                    w.WriteEndArray();
                    WriteUsage(w, usage.InputTokens, usage.OutputTokens);
                });
                await body.WriteAsync(Encoding.UTF8.GetBytes("data: " + json + "\n\n"), ct);
            }
            await body.WriteAsync(Done, ct);
            await body.FlushAsync(ct);
        }
        catch (Exception ex) when (!ctx.RequestAborted.IsCancellationRequested)
        {
            // The status is already sent: the failure goes to the client as an error event.
            var error = ex as ApiError
                ?? (ex is OperationCanceledException && ct.IsCancellationRequested
                    ? new ApiError(504, "the request took longer than the server's limit", "timeout_error", null, "timeout")
                    : ApiError.ForStatus(500, ctx.Request.Method, ctx.Request.Path));
            if (error.Status == 500) LogUnexpected(_log, ctx.Request.Method, ctx.Request.Path, ex);
            await body.WriteAsync(Encoding.UTF8.GetBytes("data: " + Encoding.UTF8.GetString(error.Body()) + "\n\n"), CancellationToken.None);
            await body.FlushAsync(CancellationToken.None);
        }
    }

    static string ChunkJson(bool chat, string id, long created, string model, string? role, string? content, string? finish) => Json(w =>
    {
        WriteEnvelope(w, id, chat ? "chat.completion.chunk" : "text_completion", created, model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        if (chat)
        {
            w.WriteStartObject("delta");
            if (role is not null) w.WriteString("role", role);
            if (content is not null) w.WriteString("content", content);
            w.WriteEndObject();
        }
        else w.WriteString("text", content ?? "");
        w.WriteNull("logprobs");
        if (finish is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finish);
        w.WriteEndObject();
        w.WriteEndArray();
    });

    static string Json(Action<Utf8JsonWriter> body)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.GetBuffer(), 0, (int)ms.Length);
    }

    static void WriteUsage(Utf8JsonWriter w, int input, int output)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", input);
        w.WriteNumber("completion_tokens", output);
        w.WriteNumber("total_tokens", input + output);
        w.WriteEndObject();
    }

    static ServerMetrics Metrics(HttpContext ctx) => ctx.RequestServices.GetRequiredService<ServerMetrics>();

    /// <summary>The fields every OpenAI response object and stream chunk starts with.</summary>
    static void WriteEnvelope(Utf8JsonWriter w, string id, string objectType, long created, string model)
    {
        w.WriteString("id", id);
        w.WriteString("object", objectType);
        w.WriteNumber("created", created);
        w.WriteString("model", model);
    }
}
