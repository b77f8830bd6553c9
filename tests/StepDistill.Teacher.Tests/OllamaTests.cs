using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using StepDistill.Teacher.Clients;
using StepDistill.Teacher.Pipeline;
using StepDistill.Teacher.Prompts;
using static StepDistill.Teacher.Tests.TestUtil;

namespace StepDistill.Teacher.Tests;

/// <summary><c>--teacher ollama:&lt;model&gt;</c> against a loopback server speaking Ollama's <c>/api/chat</c>.</summary>
public class OllamaTests
{
    const string Model = "llama-teacher";

    static string Message(string content, bool done, int promptTokens = 0, int outputTokens = 0) => JsonSerializer.Serialize(
        done
            ? new Dictionary<string, object>
            {
                ["model"] = Model, ["created_at"] = "2026-01-01T00:00:00Z", ["message"] = new { role = "assistant", content },
                ["done"] = true, ["done_reason"] = "stop", ["total_duration"] = 1000, ["prompt_eval_count"] = promptTokens, ["eval_count"] = outputTokens,
            }
            : new Dictionary<string, object>
            {
                ["model"] = Model, ["created_at"] = "2026-01-01T00:00:00Z", ["message"] = new { role = "assistant", content }, ["done"] = false,
            });

    /// <summary>Ollama's reply: one JSON object, or NDJSON chunks (a word each, then a final "done" line) when streaming.</summary>
    static Reply Answer(RecordedRequest r, Func<RecordedRequest, string> text)
    {
        if (r.PathAndQuery != "/api/chat") return new Reply(404, """{"error":"not found"}""");
        var content = text(r);
        if (r.Json["stream"]?.GetValue<bool>() != true) return new Reply(200, Message(content, done: true, 123, 45));
        var words = content.Split(' ');
        var ndjson = new StringBuilder();
        for (int i = 0; i < words.Length; i++) ndjson.Append(Message(i == 0 ? words[i] : " " + words[i], done: false)).Append('\n');
        ndjson.Append(Message("", done: true, 123, 45)).Append('\n');
        return new Reply(200, ndjson.ToString(), new Dictionary<string, string> { ["Content-Type"] = "application/x-ndjson" });
    }

    static TeacherClient Ollama(FakeOpenAIServer server) =>
        TeacherFactory.Create("ollama:" + Model, new TeacherOptions { Endpoint = server.Root });

    [Fact]
    public async Task Annotate_through_ollama_sends_its_options_and_reads_text_and_usage()
    {
        await using var server = new FakeOpenAIServer(r => Answer(r, q => GoodAnswer(ItemOf(q))));
        using var dir = new TempDir();
        var input = WriteInputs(dir.File("in.jsonl"), 5);
        using var teacher = Ollama(server);
        Assert.Equal($"ollama|{server.Root.AbsoluteUri.TrimEnd('/')}", teacher.Id);
        var summary = await new Annotator(teacher, PromptLibrary.Resolve("svamp"), FastOptions with { MaxOutputTokens = 77, Seed = 5 })
            .RunAsync(input, dir.File("out.jsonl"));

        var output = ReadOutput(dir.File("out.jsonl"));
        Assert.Equal(5, output.Count);
        foreach (var o in output)
        {
            var i = int.Parse(((string)o["id"]!)[5..]);
            Assert.Equal("ok", (string?)o["status"]);
            Assert.Equal($"( {i}.0 + 1.0 )", (string?)o["teacher_label"]);
            Assert.Equal($"Ann has {i} apples and gets 1 more, so {i} + 1 = {i + 1}.", (string?)o["rationale"]);
        }
        Assert.Equal(5, summary.Requests);
        Assert.Equal(5 * 123, summary.InputTokens); // prompt_eval_count
        Assert.Equal(5 * 45, summary.OutputTokens); // eval_count

        var request = server.Requests.First();
        Assert.Equal("POST", request.Method);
        Assert.Equal("/api/chat", request.PathAndQuery);
        Assert.Equal(Model, (string?)request.Json["model"]);
        Assert.False(request.Json["stream"]!.GetValue<bool>());
        var options = request.Json["options"]!;
        Assert.Equal(77, (int)options["num_predict"]!);
        Assert.Equal(0.0, (double)options["temperature"]!);
        Assert.Equal(5, (int)options["seed"]!);
        Assert.Equal("\n\nQ:", (string?)options["stop"]![0]);
        Assert.Equal("system", (string?)request.Json["messages"]![0]!["role"]);
        Assert.Contains("Problem ", request.LastUser);
        Assert.False(request.Headers.ContainsKey("Authorization"));
    }

    [Fact]
    public async Task Streaming_reads_every_ndjson_chunk_and_the_final_usage()
    {
        const string text = "Ann has 2 apples and gets 1 more, so 2 + 1 = 3. So the answer is ( 2 + 1 ).";
        await using var server = new FakeOpenAIServer(r => Answer(r, _ => text));
        using var teacher = Ollama(server);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in teacher.Client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Problem 2: ...")],
            new ChatOptions { MaxOutputTokens = 30 }))
            updates.Add(u);

        Assert.True(updates.Count >= text.Split(' ').Length, $"{updates.Count} updates");
        var response = updates.ToChatResponse();
        Assert.Equal(text, response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(123, response.Usage?.InputTokenCount);
        Assert.Equal(45, response.Usage?.OutputTokenCount);
        var request = server.Requests.Single();
        Assert.True(request.Json["stream"]!.GetValue<bool>());
        Assert.Equal(30, (int)request.Json["options"]!["num_predict"]!);
    }

    [Fact]
    public async Task Server_errors_are_retried_then_recorded_as_failed()
    {
        // Item 0: Ollama's error body on 500, always; item 1: one 503, then an answer.
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        await using var server = new FakeOpenAIServer(r => ItemOf(r) switch
        {
            0 => new Reply(500, """{"error":"model runner has unexpectedly stopped"}"""),
            1 when seen.AddOrUpdate(1, 1, (_, k) => k + 1) == 1 => new Reply(503, """{"error":"server busy"}"""),
            _ => Answer(r, q => GoodAnswer(ItemOf(q))),
        });
        using var dir = new TempDir();
        var input = WriteInputs(dir.File("in.jsonl"), 2);
        using var teacher = Ollama(server);
        var summary = await new Annotator(teacher, PromptLibrary.Resolve("svamp"), FastOptions with { Concurrency = 1 })
            .RunAsync(input, dir.File("out.jsonl"));

        var output = ReadOutput(dir.File("out.jsonl")).ToDictionary(o => (string)o["id"]!);
        Assert.Equal("failed", (string?)output["item-0"]["status"]);
        Assert.Contains("after 4 attempts", (string?)output["item-0"]["error"]);
        Assert.Equal("ok", (string?)output["item-1"]["status"]);
        Assert.Equal(4 + 2, server.Requests.Count);
        Assert.Equal(3 + 1, summary.Retries);
    }
}
