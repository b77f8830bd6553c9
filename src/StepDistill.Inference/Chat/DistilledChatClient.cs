using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace StepDistill.Inference.Chat;

/// <summary>
/// An <see cref="IChatClient"/> over a <see cref="DistilledModel"/>, so a student drops in where an app called an LLM.
/// Conventions (docs/library.md): the input is the text of the <b>last user message</b>; system messages, earlier
/// turns and assistant messages are ignored (a student answers one input, as it was trained). The answer is one
/// assistant message holding the label. <see cref="ChatOptions.MaxOutputTokens"/> caps the generated tokens;
/// sampling options (temperature, top-p, seed) are ignored, since decoding is deterministic. Usage (input and
/// output tokens) and the model id are filled; the finish reason is <see cref="ChatFinishReason.Stop"/> or
/// <see cref="ChatFinishReason.Length"/>. Streaming yields the answer token by token. Disposing this client does not
/// dispose the model.
/// </summary>
public sealed class DistilledChatClient : IChatClient
{
    readonly DistilledModel _model;
    readonly ChatClientMetadata _metadata;

    /// <summary>A chat client answering with <paramref name="model"/>.</summary>
    public DistilledChatClient(DistilledModel model)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _metadata = new ChatClientMetadata(ProviderName, null, model.ModelId);
    }

    /// <summary>The provider name reported in <see cref="ChatClientMetadata"/>.</summary>
    public const string ProviderName = "stepdistill";

    /// <inheritdoc/>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var input = InputOf(messages);
        var c = await _model.CompleteAsync(input, Completion(options), cancellationToken).ConfigureAwait(false);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, c.Text) { MessageId = NewId("msg") })
        {
            ModelId = _model.ModelId,
            ResponseId = NewId("resp"),
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Finish(c.FinishReason),
            Usage = Usage(c.InputTokens, c.OutputTokens),
        };
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var input = InputOf(messages);
        var (responseId, messageId, created) = (NewId("resp"), NewId("msg"), DateTimeOffset.UtcNow);
        await foreach (var u in _model.CompleteStreamingAsync(input, Completion(options), cancellationToken).ConfigureAwait(false))
        {
            var update = new ChatResponseUpdate(ChatRole.Assistant, u.Text.Length > 0 ? u.Text : null)
            {
                ModelId = _model.ModelId, ResponseId = responseId, MessageId = messageId, CreatedAt = created,
            };
            if (u.FinishReason is { } finish)
            {
                update.FinishReason = Finish(finish);
                update.Contents.Add(new UsageContent(Usage(u.InputTokens, u.OutputTokens)));
            }
            if (update.Contents.Count > 0 || update.FinishReason is not null) yield return update;
        }
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType == typeof(DistilledModel)) return _model;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Does nothing: the model belongs to whoever loaded it.</summary>
    public void Dispose() { }

    /// <summary>The text of the last user message: the student's input.</summary>
    /// <exception cref="ArgumentException">There is no user message.</exception>
    public static string InputOf(IEnumerable<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var last = messages.LastOrDefault(m => m.Role == ChatRole.User)
                   ?? throw new ArgumentException("the messages hold no user message (a student answers the last user message)", nameof(messages));
        return last.Text;
    }

    static CompletionOptions? Completion(ChatOptions? options) =>
        options?.MaxOutputTokens is { } max ? new CompletionOptions { MaxNewTokens = max } : null;

    static ChatFinishReason Finish(CompletionFinishReason r) => r == CompletionFinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length;

    static UsageDetails Usage(int input, int output) =>
        new() { InputTokenCount = input, OutputTokenCount = output, TotalTokenCount = input + output };

    static string NewId(string kind) => $"{kind}-{Guid.NewGuid():N}";
}

/// <summary>Adapts a <see cref="DistilledModel"/> to Microsoft.Extensions.AI.</summary>
public static class DistilledModelChatExtensions
{
    /// <summary>An <see cref="IChatClient"/> answering with this model (see <see cref="DistilledChatClient"/> for the conventions).</summary>
    public static IChatClient AsChatClient(this DistilledModel model) => new DistilledChatClient(model);
}
