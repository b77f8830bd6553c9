using System.Text;
using System.Text.Json.Nodes;

namespace StepDistill.Serving.Tests;

/// <summary>Bad requests get the right 4xx with OpenAI's error shape; the server stays up; the key is never logged.</summary>
public sealed class BadRequestTests
{
    const string Key = "sk-SECRET-bad-request-test-6f1d2e";
    const string Good = """{"model":"tiny-student","messages":[{"role":"user","content":"How many legs?"}]}""";

    /// <summary>(name, method, path, content type, body, key, status, code, param).</summary>
    public static TheoryData<string, string, string, string, string, string?, int, string, string?> Cases()
    {
        var big = new JsonObject { ["model"] = "tiny-student", ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = new string('a', 9000) }) }.ToJsonString();
        var overLimit = TestServer.ChatBody(string.Concat(Enumerable.Repeat("Ann has 3 cats. ", 12))); // ~190 bytes > 128 tokens
        return new()
        {
            { "malformed JSON", "POST", "v1/chat/completions", "application/json", """{"model":"tiny-student","messages":[""", Key, 400, "invalid_json", null },
            { "body not an object", "POST", "v1/chat/completions", "application/json", "[1,2]", Key, 400, "invalid_body", null },
            { "messages of the wrong type", "POST", "v1/chat/completions", "application/json", """{"messages":"hello"}""", Key, 400, "invalid_type", "messages" },
            { "max_tokens of the wrong type", "POST", "v1/chat/completions", "application/json", """{"messages":[{"role":"user","content":"hi"}],"max_tokens":"ten"}""", Key, 400, "invalid_type", "max_tokens" },
            { "content of the wrong type", "POST", "v1/chat/completions", "application/json", """{"messages":[{"role":"user","content":42}]}""", Key, 400, "invalid_type", "messages[0].content" },
            { "no messages", "POST", "v1/chat/completions", "application/json", """{"model":"tiny-student"}""", Key, 400, "missing_required_parameter", "messages" },
            { "empty messages", "POST", "v1/chat/completions", "application/json", """{"messages":[]}""", Key, 400, "empty_array", "messages" },
            { "no user message", "POST", "v1/chat/completions", "application/json", """{"messages":[{"role":"system","content":"be brief"}]}""", Key, 400, "missing_user_message", "messages" },
            { "empty input", "POST", "v1/chat/completions", "application/json", """{"messages":[{"role":"user","content":"   "}]}""", Key, 400, "empty_input", "messages" },
            { "unknown role", "POST", "v1/chat/completions", "application/json", """{"messages":[{"role":"wizard","content":"hi"}]}""", Key, 400, "invalid_value", "messages[0].role" },
            { "oversized body", "POST", "v1/chat/completions", "application/json", big, Key, 413, "request_too_large", null },
            { "input over the limit", "POST", "v1/chat/completions", "application/json", overLimit, Key, 400, "context_length_exceeded", "messages" },
            { "unknown model", "POST", "v1/chat/completions", "application/json", Good.Replace("tiny-student", "gpt-4o"), Key, 404, "model_not_found", "model" },
            { "missing key", "POST", "v1/chat/completions", "application/json", Good, null, 401, "invalid_api_key", null },
            { "wrong key", "POST", "v1/chat/completions", "application/json", Good, Key + "x", 401, "invalid_api_key", null },
            { "n > 1", "POST", "v1/chat/completions", "application/json", """{"messages":[{"role":"user","content":"hi"}],"n":3}""", Key, 400, "invalid_value", "n" },
            { "negative max_tokens", "POST", "v1/chat/completions", "application/json", """{"messages":[{"role":"user","content":"hi"}],"max_tokens":-5}""", Key, 400, "invalid_value", "max_tokens" },
            { "temperature out of range", "POST", "v1/chat/completions", "application/json", """{"messages":[{"role":"user","content":"hi"}],"temperature":7}""", Key, 400, "invalid_value", "temperature" },
            { "wrong content type", "POST", "v1/chat/completions", "text/plain", Good, Key, 415, "unsupported_media_type", null },
            { "wrong method", "GET", "v1/chat/completions", "application/json", "", Key, 405, "method_not_allowed", null },
            { "unknown path", "POST", "v1/embeddings", "application/json", Good, Key, 404, "not_found", null },
            { "completions: empty prompt list", "POST", "v1/completions", "application/json", """{"prompt":[]}""", Key, 400, "empty_array", "prompt" },
            { "completions: prompt of the wrong type", "POST", "v1/completions", "application/json", """{"prompt":[1,2]}""", Key, 400, "invalid_type", "prompt[0]" },
            { "predict: inputs not an array", "POST", "v1/predict", "application/json", """{"inputs":"one"}""", Key, 400, "invalid_type", "inputs" },
            { "predict: too many inputs", "POST", "v1/predict", "application/json", new JsonObject { ["inputs"] = new JsonArray(Enumerable.Range(0, 9).Select(i => (JsonNode)JsonValue.Create($"q{i}")).ToArray()) }.ToJsonString(), Key, 400, "too_many_inputs", "inputs" },
        };
    }

    [Fact]
    public async Task Each_bad_request_gets_its_4xx_in_OpenAI_shape_and_the_server_stays_up_without_logging_the_key()
    {
        await using var server = await TestServer.StartAsync(server: new ServerOptions { ApiKey = Key, MaxRequestBodyBytes = 8192, MaxInputsPerRequest = 8 });
        var failures = new List<string>();
        var cases = Cases();
        Assert.True(cases.Count() >= 12);
        foreach (var row in cases)
        {
            var (name, method, path, type, body, key, status, code, param) = ((string)row[0], (string)row[1], (string)row[2], (string)row[3], (string)row[4], (string?)row[5], (int)row[6], (string)row[7], (string?)row[8]);
            using var req = new HttpRequestMessage(new HttpMethod(method), new Uri(server.Root, path));
            if (method == "POST") req.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) { Headers = { { "Content-Type", type } } };
            if (key is not null) req.Headers.Authorization = new("Bearer", key);
            using var resp = await server.Http.SendAsync(req);
            var text = await resp.Content.ReadAsStringAsync();
            JsonNode? error = null;
            try { error = JsonNode.Parse(text)?["error"]; } catch (System.Text.Json.JsonException) { }
            var problems = new List<string>();
            if ((int)resp.StatusCode != status) problems.Add($"status {(int)resp.StatusCode}, expected {status}");
            if (resp.Content.Headers.ContentType?.MediaType != "application/json") problems.Add($"content type {resp.Content.Headers.ContentType}");
            if (error is not JsonObject e || e["message"] is not JsonValue m || string.IsNullOrEmpty((string?)m) || e["type"] is not JsonValue
                || !e.ContainsKey("param") || !e.ContainsKey("code"))
                problems.Add("not OpenAI's error shape");
            else
            {
                if ((string?)e["code"] != code) problems.Add($"code {(string?)e["code"]}, expected {code}");
                if ((string?)e["param"] != param) problems.Add($"param {(string?)e["param"]}, expected {param}");
            }
            if (status == 401 && resp.Headers.WwwAuthenticate.Count == 0) problems.Add("no WWW-Authenticate");
            if (text.Contains(Key, StringComparison.Ordinal)) problems.Add("the key is in the response");
            if (problems.Count > 0) failures.Add($"{name}: {string.Join("; ", problems)} — body: {text}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // Still up, and still answering good requests.
        Assert.Equal(System.Net.HttpStatusCode.OK, (await server.Http.GetAsync(new Uri(server.Root, "health"))).StatusCode);
        var (ok, json, _) = await server.PostAsync("v1/chat/completions", Good, key: Key);
        Assert.Equal(200, ok);
        Assert.NotNull((string?)json!["choices"]![0]!["message"]!["content"]);

        var logs = server.Logs.All;
        Assert.NotEmpty(server.Logs.Lines); // the capture works (model loaded, listening, ...)
        Assert.DoesNotContain(Key, logs, StringComparison.Ordinal);
        Assert.DoesNotContain(Key[..12], logs, StringComparison.Ordinal);
    }
}
