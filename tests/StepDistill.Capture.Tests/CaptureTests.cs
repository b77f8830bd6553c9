using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;
using StepDistill.Capture;
using StepDistill.Data;

namespace StepDistill.Capture.Tests;

public class CaptureTests
{
    /// <summary>An LLM stand-in: answers "answer to X" (streamed word by word), names a model, and can fail.</summary>
    sealed class EchoLlm(string model = "echo-1") : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            CancellationToken cancellationToken = default)
        {
            var q = messages.LastOrDefault(m => m.Role == ChatRole.User)?.Text ?? "nothing";
            if (q.Contains("fail", StringComparison.Ordinal)) throw new InvalidOperationException("the LLM failed");
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "answer to " + q)) { ModelId = model });
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            var r = await GetResponseAsync(messages, options, cancellationToken);
            var words = r.Text.Split(' ');
            for (var i = 0; i < words.Length; i++)
            {
                await Task.Yield();
                yield return new ChatResponseUpdate(ChatRole.Assistant, (i > 0 ? " " : "") + words[i]) { ModelId = model };
            }
        }

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("echo", null, model) : null;

        public void Dispose() { }
    }

    static IChatClient Pipeline(string path, IChatClient? llm = null) =>
        new ChatClientBuilder(llm ?? new EchoLlm()).UseStepDistillCapture(path).Build();

    static List<JsonElement> Records(string path) =>
        File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    [Fact]
    public async Task ConcurrentCalls_AreEachRecordedOnce()
    {
        using var dir = new TempDir();
        var path = dir.File("calls/captured.jsonl");
        using var chat = Pipeline(path);
        var questions = Enumerable.Range(0, 200).Select(i => $"question {i} " + new string('x', i % 37)).ToList();
        // Half plain, half streamed, from many threads at once.
        await Task.WhenAll(questions.Select((q, i) => Task.Run(async () =>
        {
            List<ChatMessage> messages = [new(ChatRole.System, "be brief"), new(ChatRole.User, "an older turn"), new(ChatRole.Assistant, "ok"),
                new(ChatRole.User, q)];
            var text = i % 2 == 0
                ? (await chat.GetResponseAsync(messages)).Text
                : (await chat.GetStreamingResponseAsync(messages).ToChatResponseAsync()).Text;
            Assert.Equal("answer to " + q, text);
        })));

        var records = Records(path);
        Assert.Equal(questions.Count, records.Count);
        Assert.Equal(questions.Order(), records.Select(r => r.GetProperty("input").GetString()!).Order());
        Assert.All(records, r =>
        {
            Assert.Equal("answer to " + r.GetProperty("input").GetString(), r.GetProperty("teacher_label").GetString());
            Assert.Equal("echo-1", r.GetProperty("model").GetString());
            Assert.Equal(["id", "input", "teacher_label", "model", "time"], r.EnumerateObject().Select(p => p.Name));
        });
        Assert.Equal(records.Count, records.Select(r => r.GetProperty("id").GetString()).Distinct().Count());

        // The file is training data as it stands.
        var data = await DatasetLoader.LoadAsync(path, "train", null);
        Assert.Equal(questions.Count, data.Count);
        Assert.All(data.Examples, e => Assert.Equal("answer to " + e.Input, e.TeacherLabel));
    }

    [Fact]
    public async Task FailedCancelledAndAbandonedCalls_RecordNothing()
    {
        using var dir = new TempDir();
        var path = dir.File("c.jsonl");
        using var chat = Pipeline(path);
        await Assert.ThrowsAsync<InvalidOperationException>(() => chat.GetResponseAsync("please fail"));
        await foreach (var _ in chat.GetStreamingResponseAsync("a long streamed answer")) break; // abandoned after one update
        Assert.Equal("answer to nothing", (await chat.GetResponseAsync([new ChatMessage(ChatRole.System, "no user message")])).Text);
        await chat.GetResponseAsync("counted");
        var records = Records(path);
        Assert.Equal("counted", Assert.Single(records).GetProperty("input").GetString());
    }

    [Fact]
    public async Task ARestart_Appends_AndRepairsOnlyATornLastLine()
    {
        using var dir = new TempDir();
        var path = dir.File("c.jsonl");
        using (var first = Pipeline(path)) await first.GetResponseAsync("one");
        var before = File.ReadAllText(path);
        // A crash in the middle of a write leaves an unfinished line, which is no record.
        File.AppendAllText(path, "{\"id\":\"torn\",\"inp");
        using (var second = Pipeline(path))
        {
            await second.GetResponseAsync("two");
            await second.GetResponseAsync("three");
        }
        var text = File.ReadAllText(path);
        Assert.StartsWith(before, text); // nothing recorded was rewritten
        Assert.Equal(["one", "two", "three"], Records(path).Select(r => r.GetProperty("input").GetString()));
    }

    [Fact]
    public async Task NoKeyOrHeaderOrOptionIsRecorded()
    {
        using var dir = new TempDir();
        var path = dir.File("c.jsonl");
        const string secret = "sk-secret-0123456789";
        using var chat = Pipeline(path);
        var options = new ChatOptions { AdditionalProperties = new() { ["api_key"] = secret, ["Authorization"] = "Bearer " + secret }, Temperature = 0.3f };
        await chat.GetResponseAsync([new ChatMessage(ChatRole.System, "system " + secret), new ChatMessage(ChatRole.User, "hello")], options);
        var text = File.ReadAllText(path);
        Assert.DoesNotContain(secret, text);
        Assert.DoesNotContain("0.3", text);
        Assert.Single(Records(path));
    }

    [Fact]
    public async Task SeveralClientsOnOneFile_NeverInterleave()
    {
        using var dir = new TempDir();
        var path = dir.File("c.jsonl");
        // Four pipelines of one app capturing to the same file, lines of very different lengths.
        var writers = Enumerable.Range(0, 4).Select(_ => new CaptureWriter(path)).ToList();
        await Task.WhenAll(Enumerable.Range(0, 400).Select(i => Task.Run(() =>
            writers[i % 4].AppendAsync(new CaptureRecord($"id-{i}", new string('q', 1 + i % 300), "a", null, DateTimeOffset.UnixEpoch), default))));
        var records = Records(path);
        Assert.Equal(400, records.Count);
        Assert.Equal(400, records.Select(r => r.GetProperty("id").GetString()).Distinct().Count());
    }
}
