using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace StepDistill.Capture;

/// <summary>
/// A <see cref="DelegatingChatClient"/> that records every completed call the app makes to its LLM as a JSONL
/// training record (<see cref="CaptureRecord"/>): the input (the last user message), the LLM's answer (a teacher
/// label), the model id and the time. Exactly one record per completed call: a plain call once it returned, a
/// streamed call once its stream was read to the end (a failed, cancelled or abandoned call records nothing).
/// Calls without a user message or without answer text are not recorded. Only those four things are written:
/// no options, headers, keys or other messages. Safe under concurrent calls; appends across restarts.
/// </summary>
public sealed class CaptureChatClient : DelegatingChatClient
{
    readonly CaptureOptions _options;
    readonly CaptureWriter _writer;

    /// <summary>Records the calls that go through to <paramref name="innerClient"/>.</summary>
    public CaptureChatClient(IChatClient innerClient, CaptureOptions options) : base(innerClient)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _writer = new CaptureWriter(options.Path);
    }

    /// <summary>The full path of the file records go to.</summary>
    public string Path => _writer.Path;

    /// <inheritdoc/>
    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var list = messages as IReadOnlyList<ChatMessage> ?? messages.ToList();
        var response = await base.GetResponseAsync(list, options, cancellationToken).ConfigureAwait(false);
        await RecordAsync(list, response.Text, response.ModelId).ConfigureAwait(false);
        return response;
    }

    /// <inheritdoc/>
    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages as IReadOnlyList<ChatMessage> ?? messages.ToList();
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in base.GetStreamingResponseAsync(list, options, cancellationToken).ConfigureAwait(false))
        {
            updates.Add(update);
            yield return update;
        }
        // Reached only when the stream completed and the caller read it to the end.
        var response = updates.ToChatResponse();
        await RecordAsync(list, response.Text, response.ModelId).ConfigureAwait(false);
    }

    async Task RecordAsync(IReadOnlyList<ChatMessage> messages, string answer, string? modelId)
    {
        var input = _options.SelectInput(messages);
        if (string.IsNullOrEmpty(input) || string.IsNullOrEmpty(answer)) return;
        var model = modelId ?? InnerClient.GetService<ChatClientMetadata>()?.DefaultModelId;
        var record = new CaptureRecord(Guid.CreateVersion7().ToString("N"), input, answer, model, _options.TimeProvider.GetUtcNow());
        // The call has completed: the record is written even if the caller cancels now, so no completed call is lost.
        await _writer.AppendAsync(record, CancellationToken.None).ConfigureAwait(false);
    }
}

/// <summary>Adds capture to a <see cref="ChatClientBuilder"/> pipeline.</summary>
public static class CaptureChatClientBuilderExtensions
{
    /// <summary>
    /// Records every completed call through this pipeline as a training record appended to <paramref name="path"/>
    /// (see <see cref="CaptureChatClient"/>). Put it next to the LLM client (last in the builder chain) so that what
    /// is recorded is what the LLM answered.
    /// </summary>
    public static ChatClientBuilder UseStepDistillCapture(this ChatClientBuilder builder, string path) =>
        builder.UseStepDistillCapture(new CaptureOptions { Path = path });

    /// <summary>As <see cref="UseStepDistillCapture(ChatClientBuilder, string)"/>, with all options.</summary>
    public static ChatClientBuilder UseStepDistillCapture(this ChatClientBuilder builder, CaptureOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        return builder.Use(inner => new CaptureChatClient(inner, options));
    }
}
