using Microsoft.Extensions.AI;

namespace StepDistill.Teacher.Prompts;

/// <summary>How a prompt is sent: as a chat (system + alternating user/assistant turns) or as one plain text.</summary>
public enum PromptStyle
{
    /// <summary>System message, then one user/assistant turn per exemplar, then the input.</summary>
    Chat,
    /// <summary>One text: instructions, exemplars and the input, to be continued.</summary>
    Completion,
}

/// <summary>One worked example of the few-shot prompt: an input, its step-by-step rationale and its answer.</summary>
public sealed record Exemplar(string Input, string Rationale, string Answer);

/// <summary>
/// A few-shot chain-of-thought prompt: instructions, exemplar triplets and the markers that frame them.
/// <see cref="Task"/> names the answer parser (see <see cref="Parsing.AnswerParsers"/>).
/// </summary>
public sealed record PromptTemplate
{
    /// <summary>The prompt's name (a built-in name or the file name).</summary>
    public required string Name { get; init; }
    /// <summary>The answer parser to use (<c>task:</c> in the file).</summary>
    public required string Task { get; init; }
    /// <summary>Text before the exemplars (the system message in chat style).</summary>
    public string Instructions { get; init; } = "";
    /// <summary>The worked examples, in order.</summary>
    public IReadOnlyList<Exemplar> Exemplars { get; init; } = [];
    /// <summary>Chat or completion.</summary>
    public PromptStyle Style { get; init; } = PromptStyle.Chat;
    /// <summary>What precedes each input.</summary>
    public string InputPrefix { get; init; } = "Q:";
    /// <summary>What precedes each rationale and answer.</summary>
    public string OutputPrefix { get; init; } = "A:";
    /// <summary>The phrase that introduces the answer after the rationale.</summary>
    public string AnswerPhrase { get; init; } = "So the answer is";
    /// <summary>Sent to the server and also applied client-side, since not every server honours stop.</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = ["\n\nQ:"];

    string FormatInput(string input) => InputPrefix.Length == 0 ? input.Trim() : $"{InputPrefix} {input.Trim()}";

    string FormatOutput(Exemplar e)
    {
        var body = $"{e.Rationale.Trim()} {AnswerPhrase} {e.Answer.Trim()}.";
        return OutputPrefix.Length == 0 ? body : $"{OutputPrefix} {body}";
    }

    /// <summary>The full plain-text prompt, ending with the output prefix the model continues from.</summary>
    public string RenderText(string input)
    {
        var sb = new System.Text.StringBuilder();
        if (Instructions.Length > 0) sb.Append(Instructions.Trim()).Append("\n\n");
        foreach (var e in Exemplars)
            sb.Append(FormatInput(e.Input)).Append('\n').Append(FormatOutput(e)).Append("\n\n");
        sb.Append(FormatInput(input)).Append('\n').Append(OutputPrefix);
        return sb.ToString();
    }

    /// <summary>The messages to send for <paramref name="input"/> in this template's style.</summary>
    public IList<ChatMessage> Render(string input)
    {
        if (Style == PromptStyle.Completion) return [new ChatMessage(ChatRole.User, RenderText(input))];
        var messages = new List<ChatMessage>();
        if (Instructions.Length > 0) messages.Add(new ChatMessage(ChatRole.System, Instructions.Trim()));
        foreach (var e in Exemplars)
        {
            messages.Add(new ChatMessage(ChatRole.User, FormatInput(e.Input)));
            messages.Add(new ChatMessage(ChatRole.Assistant, FormatOutput(e)));
        }
        messages.Add(new ChatMessage(ChatRole.User, FormatInput(input)));
        return messages;
    }

    /// <summary>
    /// Cuts a completion where the model starts inventing the next question, and drops the output prefix
    /// a chat model may echo. Raw text is kept elsewhere; this is what gets parsed.
    /// </summary>
    public string CleanCompletion(string completion)
    {
        var text = completion;
        foreach (var stop in StopSequences)
        {
            if (stop.Length == 0) continue;
            var at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0) text = text[..at];
        }
        text = text.Trim();
        if (OutputPrefix.Length > 0 && text.StartsWith(OutputPrefix, StringComparison.Ordinal))
            text = text[OutputPrefix.Length..].TrimStart();
        return text;
    }

    /// <summary>A rough token estimate (about 4 characters per token for English text with BPE vocabularies).</summary>
    public static int EstimateTokens(string text) => (text.Length + 3) / 4;

    /// <summary>A rough token count of <paramref name="messages"/> (about 4 characters per token), for rate limits and estimates.</summary>
    public static int EstimateTokens(IEnumerable<ChatMessage> messages) =>
        messages.Sum(m => EstimateTokens(m.Text) + 4); // a few tokens of role framing per message
}
