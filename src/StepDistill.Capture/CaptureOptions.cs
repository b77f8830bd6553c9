using Microsoft.Extensions.AI;

namespace StepDistill.Capture;

/// <summary>What <see cref="CaptureChatClient"/> records, and where.</summary>
public sealed record CaptureOptions
{
    /// <summary>The JSONL file records are appended to (created with its folder if missing).</summary>
    public required string Path { get; init; }

    /// <summary>
    /// Picks the student's input from a call's messages. Default: the text of the last user message, the same
    /// convention the student's chat client uses when it answers. Return null to skip recording a call.
    /// </summary>
    public Func<IReadOnlyList<ChatMessage>, string?> SelectInput { get; init; } = LastUserMessage;

    /// <summary>The clock used for each record's time (tests pass a fixed one).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>The text of the last user message, or null when there is none.</summary>
    public static string? LastUserMessage(IReadOnlyList<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        for (var i = messages.Count - 1; i >= 0; i--)
            if (messages[i].Role == ChatRole.User) return messages[i].Text;
        return null;
    }
}
