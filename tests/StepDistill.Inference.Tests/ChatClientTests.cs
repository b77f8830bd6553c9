using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StepDistill.Inference.Chat;

namespace StepDistill.Inference.Tests;

public class ChatClientTests
{
    static DistilledModelOptions Cpu(string id) => new() { Device = "cpu", MaxNewTokens = 10, ModelId = id };

    static List<ChatMessage> Conversation(string question) =>
    [
        new(ChatRole.System, "You count legs."),
        new(ChatRole.User, "how many legs do 2 cats have?"),
        new(ChatRole.Assistant, "8"),
        new(ChatRole.User, question),
    ];

    [SkippableFact]
    public async Task Response_IsTheLabelOfTheLastUserMessage_WithUsageAndModelId()
    {
        await using var model = DistilledModel.Load(TestModels.StepByStep, Cpu("chat-a"));
        using var chat = model.AsChatClient();
        var question = TestModels.MixedInputs(2, seed: 31)[1];
        var expected = await model.CompleteAsync(question);

        var response = await chat.GetResponseAsync(Conversation(question));

        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(ChatRole.Assistant, Assert.Single(response.Messages).Role);
        Assert.Equal("chat-a", response.ModelId);
        Assert.Equal(expected.InputTokens, response.Usage!.InputTokenCount);
        Assert.Equal(expected.OutputTokens, response.Usage.OutputTokenCount);
        Assert.Equal(expected.InputTokens + expected.OutputTokens, response.Usage.TotalTokenCount);
        Assert.Equal(expected.FinishReason == CompletionFinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length, response.FinishReason);
        Assert.Equal("chat-a", chat.GetService<ChatClientMetadata>()!.DefaultModelId);
        Assert.Same(model, chat.GetService<DistilledModel>());
        await Assert.ThrowsAsync<ArgumentException>(() => chat.GetResponseAsync([new ChatMessage(ChatRole.System, "no question")]));
    }

    [SkippableFact]
    public async Task MaxOutputTokens_IsHonoured()
    {
        await using var model = DistilledModel.Load(TestModels.StepByStep, Cpu("chat-b"));
        using var chat = model.AsChatClient();
        var question = TestModels.MixedInputs(3, seed: 32)[2];
        Assert.True((await model.CompleteAsync(question)).OutputTokens > 2);
        var response = await chat.GetResponseAsync(question, new ChatOptions { MaxOutputTokens = 2 });
        Assert.Equal(2, response.Usage!.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        var streamed = await chat.GetStreamingResponseAsync(question, new ChatOptions { MaxOutputTokens = 2 }).ToChatResponseAsync();
        Assert.Equal(response.Text, streamed.Text);
    }

    [SkippableFact]
    public async Task Streaming_YieldsTheAnswerTokenByToken()
    {
        await using var model = DistilledModel.Load(TestModels.StepByStep, Cpu("chat-c"));
        using var chat = model.AsChatClient();
        var question = TestModels.MixedInputs(4, seed: 33)[3];
        var expected = await chat.GetResponseAsync(Conversation(question));

        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in chat.GetStreamingResponseAsync(Conversation(question))) updates.Add(u);

        Assert.True(updates.Count(u => u.Text.Length > 0) > 1, "the answer came in one piece");
        var merged = updates.ToChatResponse();
        Assert.Equal(expected.Text, merged.Text);
        Assert.Equal(expected.FinishReason, merged.FinishReason);
        Assert.Equal(expected.Usage!.OutputTokenCount, merged.Usage!.OutputTokenCount);
        Assert.Equal(expected.Usage.InputTokenCount, merged.Usage.InputTokenCount);
        Assert.All(updates, u => Assert.Equal("chat-c", u.ModelId));
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
    }

    [SkippableFact]
    public async Task WorksInAPipeline_WithLoggingOpenTelemetryAndDistributedCache()
    {
        const string id = "chat-pipeline", source = "StepDistill.Tests.Chat";
        await using var model = DistilledModel.Load(TestModels.StepByStep, Cpu(id));
        var logs = new LogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        var activities = new List<Activity>();
        using var activityListener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == source,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (activities) activities.Add(a); },
        };
        ActivitySource.AddActivityListener(activityListener);
        long inputsRun = 0;
        using var meterListener = new MeterListener
        {
            InstrumentPublished = (i, l) => { if (i.Meter.Name == InferenceMetrics.MeterName && i.Name == InferenceMetrics.Inputs) l.EnableMeasurementEvents(i); },
        };
        meterListener.SetMeasurementEventCallback<long>((_, v, tags, _) =>
        {
            foreach (var t in tags) if (t.Key == InferenceMetrics.ModelTag && Equals(t.Value, id)) Interlocked.Add(ref inputsRun, v);
        });
        meterListener.Start();

        IDistributedCache cache = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        using var chat = new ChatClientBuilder(model.AsChatClient())
            .UseLogging(loggerFactory)
            .UseOpenTelemetry(loggerFactory, source, c => c.EnableSensitiveData = false)
            .UseDistributedCache(cache)
            .Build();

        var question = TestModels.MixedInputs(5, seed: 34)[4];
        var expected = model.Predict(question);
        var first = await chat.GetResponseAsync(Conversation(question));
        var second = await chat.GetResponseAsync(Conversation(question));
        var streamed = await chat.GetStreamingResponseAsync(Conversation(question + " again")).ToChatResponseAsync();

        Assert.Equal(expected, first.Text);
        Assert.Equal(expected, second.Text);
        Assert.Equal(model.Predict(question + " again"), streamed.Text);
        // The cache answered the repeated question: the model ran the first question once (plus our own Predict calls).
        Assert.Equal(4, Interlocked.Read(ref inputsRun));
        Assert.Equal(id, first.ModelId);

        lock (activities)
        {
            Assert.Equal(3, activities.Count);
            var a = activities[0];
            Assert.Equal(id, a.GetTagItem("gen_ai.response.model"));
            Assert.Equal(first.Usage!.OutputTokenCount, Convert.ToInt64(a.GetTagItem("gen_ai.usage.output_tokens")));
            Assert.Equal(first.Usage.InputTokenCount, Convert.ToInt64(a.GetTagItem("gen_ai.usage.input_tokens")));
        }
        Assert.Contains(logs.Messages, m => m.Contains("GetResponseAsync", StringComparison.Ordinal));
        Assert.Contains(logs.Messages, m => m.Contains("GetStreamingResponseAsync", StringComparison.Ordinal));
    }

    sealed class LogCollector : ILoggerProvider, ILogger
    {
        public List<string> Messages { get; } = new();
        public ILogger CreateLogger(string categoryName) => this;
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Messages) Messages.Add(formatter(state, exception));
        }
        public void Dispose() { }
    }
}
