using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using StepDistill.Inference;

namespace StepDistill.Serving.Tests;

/// <summary>Real clients (the official OpenAI .NET client, Microsoft.Extensions.AI over it, plain HTTP) against a real server.</summary>
public sealed class ClientTests : IAsyncLifetime
{
    TestServer _server = null!;
    DistilledModel _local = null!;
    const string Key = "sk-client-test-key";

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(server: new ServerOptions { ApiKey = Key });
        _local = DistilledModel.Load(TinyStudent.Folder, TinyStudent.Options);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _local.Dispose();
    }

    OpenAIClient Client() => new(new ApiKeyCredential(Key), new OpenAIClientOptions { Endpoint = _server.V1, RetryPolicy = new ClientRetryPolicy(0) });

    static readonly string[] Inputs = ["How many legs do 3 cats have?", "x", "A much longer question about ducks, geese and the number of their feet in total?"];

    [Fact]
    public async Task Official_OpenAI_client_gets_the_students_predictions_plain_and_streamed()
    {
        var chat = Client().GetChatClient("tiny-student");
        foreach (var input in Inputs)
        {
            var expected = await _local.CompleteAsync(input);
            ChatCompletion c = await chat.CompleteChatAsync([new UserChatMessage(input)]);
            Assert.Equal(expected.Text, c.Content[0].Text);
            Assert.Equal(expected.InputTokens, c.Usage.InputTokenCount);
            Assert.Equal(expected.OutputTokens, c.Usage.OutputTokenCount);
            Assert.Equal(expected.FinishReason == CompletionFinishReason.Length ? OpenAI.Chat.ChatFinishReason.Length : OpenAI.Chat.ChatFinishReason.Stop, c.FinishReason);
            Assert.Equal("tiny-student", c.Model);

            var streamed = new System.Text.StringBuilder();
            var updates = 0;
            OpenAI.Chat.ChatFinishReason? finish = null;
            ChatTokenUsage? usage = null;
            await foreach (var u in chat.CompleteChatStreamingAsync([new UserChatMessage(input)]))
            {
                foreach (var part in u.ContentUpdate) streamed.Append(part.Text);
                finish ??= u.FinishReason;
                usage ??= u.Usage;
                updates++;
            }
            Assert.Equal(expected.Text, streamed.ToString());
            Assert.Equal(c.FinishReason, finish);
            Assert.True(updates >= 2, $"expected a stream of updates, got {updates}");
        }
    }

    [Fact]
    public async Task MEAI_chat_client_gets_predictions_usage_and_honours_max_output_tokens()
    {
        IChatClient client = Client().GetChatClient("tiny-student").AsIChatClient();
        foreach (var input in Inputs)
        {
            var expected = await _local.CompleteAsync(input);
            // A system message and earlier turns are not seen: the last user message is the input.
            var response = await client.GetResponseAsync([new(ChatRole.System, "You are helpful."), new(ChatRole.User, "ignored earlier turn"),
                                                         new(ChatRole.Assistant, "ok"), new(ChatRole.User, input)]);
            Assert.Equal(expected.Text, response.Text);
            Assert.Equal(expected.InputTokens, response.Usage!.InputTokenCount);
            Assert.Equal(expected.OutputTokens, response.Usage.OutputTokenCount);
            Assert.Equal("tiny-student", response.ModelId);

            var streamed = await client.GetStreamingResponseAsync(input).ToChatResponseAsync();
            Assert.Equal(expected.Text, streamed.Text);
            Assert.Equal(expected.OutputTokens, streamed.Usage!.OutputTokenCount); // include_usage: the final chunk

            var shortOne = await _local.CompleteAsync(input, new CompletionOptions { MaxNewTokens = 3 });
            var limited = await client.GetResponseAsync(input, new ChatOptions { MaxOutputTokens = 3 });
            Assert.Equal(shortOne.Text, limited.Text);
            Assert.Equal(shortOne.OutputTokens, limited.Usage!.OutputTokenCount);
            Assert.True(limited.Usage.OutputTokenCount <= 3);
        }
    }

    [Fact]
    public async Task Completions_models_and_native_predict_with_rationales()
    {
        var prompts = new JsonArray(Inputs.Select(x => (JsonNode)JsonValue.Create(x)).ToArray());
        var (status, json, _) = await _server.PostAsync("v1/completions", new JsonObject { ["model"] = "tiny-student", ["prompt"] = prompts, ["max_tokens"] = 5 }.ToJsonString(), key: Key);
        Assert.Equal(200, status);
        var expected = await _local.CompleteAsync(Inputs, new CompletionOptions { MaxNewTokens = 5 });
        Assert.Equal("text_completion", (string?)json!["object"]);
        Assert.Equal(expected.Select(e => e.Text), json["choices"]!.AsArray().Select(c => (string?)c!["text"]));
        Assert.Equal(expected.Sum(e => e.OutputTokens), (int)json["usage"]!["completion_tokens"]!);

        using var models = new HttpRequestMessage(HttpMethod.Get, new Uri(_server.Root, "v1/models"));
        models.Headers.Authorization = new("Bearer", Key);
        var list = JsonNode.Parse(await (await _server.Http.SendAsync(models)).Content.ReadAsStringAsync())!;
        Assert.Equal("tiny-student", (string?)list["data"]![0]!["id"]);

        (status, json, _) = await _server.PostAsync("v1/predict", new JsonObject { ["inputs"] = prompts.DeepClone(), ["explain"] = true }.ToJsonString(), key: Key);
        Assert.Equal(200, status);
        var predictions = json!["predictions"]!.AsArray();
        Assert.Equal(Inputs.Length, predictions.Count);
        for (var i = 0; i < Inputs.Length; i++)
        {
            var e = await _local.ExplainAsync(Inputs[i]);
            Assert.Equal(e.Label, (string?)predictions[i]!["label"]);
            Assert.Equal(e.Rationale, (string?)predictions[i]!["rationale"]);
        }
    }

    [Fact]
    public async Task Stop_sequences_cut_the_answer_plain_and_streamed()
    {
        var candidates = TinyStudent.MixedInputs(16);
        var answers = await _local.CompleteAsync(candidates);
        var at = answers.ToList().FindIndex(a => a.Text.Length >= 4);
        Assert.True(at >= 0, "no answer of the tiny student is long enough to test stop sequences");
        var (input, full) = (candidates[at], answers[at].Text);
        var stop = full.Substring(2, 2);
        var cut = full[..full.IndexOf(stop, StringComparison.Ordinal)];
        var chat = Client().GetChatClient("tiny-student");
        var options = new ChatCompletionOptions();
        options.StopSequences.Add(stop);
        ChatCompletion c = await chat.CompleteChatAsync([new UserChatMessage(input)], options);
        Assert.Equal(cut, c.Content[0].Text);
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Stop, c.FinishReason);
        var streamed = new System.Text.StringBuilder();
        await foreach (var u in chat.CompleteChatStreamingAsync([new UserChatMessage(input)], options))
            foreach (var part in u.ContentUpdate) streamed.Append(part.Text);
        Assert.Equal(cut, streamed.ToString());
    }
}
