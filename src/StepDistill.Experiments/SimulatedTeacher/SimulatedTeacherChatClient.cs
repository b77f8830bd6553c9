using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;
using StepDistill.Experiments.DemoTask;

namespace StepDistill.Experiments.SimulatedTeacher;

/// <summary>Behaviour of a <see cref="SimulatedTeacherChatClient"/>.</summary>
internal sealed record SimulatedTeacherOptions
{
    /// <summary>Fraction of answers with a mistake, 0..1. Half the mistakes are a wrong step that carries into
    /// the total (a wrong leg count), half a slip in the final sum, as a real LLM's errors are.</summary>
    public double ErrorRate { get; init; } = 0.05;

    /// <summary>Mixed into every decision, so two simulated teachers with different seeds make different mistakes.</summary>
    public int Seed { get; init; }
}

/// <summary>
/// A SIMULATED teacher for offline use: an <see cref="IChatClient"/> that answers the built-in
/// <see cref="LegsTask"/> prompt with a chain-of-thought rationale in varied free text and
/// "So the answer is N.", without any LLM. It finds the last question in the request (chat or completion
/// style), solves it from the task's animal table, and makes mistakes at <see cref="SimulatedTeacherOptions.ErrorRate"/>.
/// Output is a pure function of (question, request seed, options), so caching and reruns are reproducible;
/// requests with different <see cref="ChatOptions.Seed"/> (self-consistency samples) differ in phrasing and mistakes.
/// </summary>
internal sealed class SimulatedTeacherChatClient : IChatClient
{
    /// <summary>The model id this client reports; it says "simulated" wherever it is recorded.</summary>
    public const string ModelName = "simulated-teacher-legs";

    readonly SimulatedTeacherOptions _options;
    readonly ChatClientMetadata _metadata = new("simulated", null, ModelName);

    public SimulatedTeacherChatClient(SimulatedTeacherOptions? options = null)
    {
        _options = options ?? new SimulatedTeacherOptions();
        if (_options.ErrorRate is < 0 or > 1 || double.IsNaN(_options.ErrorRate))
            throw new ArgumentOutOfRangeException(nameof(options), $"error rate must be within 0..1, got {_options.ErrorRate}");
    }

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        cancellationToken.ThrowIfCancellationRequested();
        var list = messages.ToList();
        var prompt = string.Join("\n", list.Select(m => m.Text));
        var text = Answer(list, options?.Seed ?? 0);
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, text))
        {
            ModelId = ModelName,
            FinishReason = ChatFinishReason.Stop,
            CreatedAt = DateTimeOffset.UnixEpoch, // fixed, so responses are identical across runs
            Usage = new UsageDetails
            {
                // Rough: about four characters per token, as for English text with an LLM tokenizer.
                InputTokenCount = (prompt.Length + 3) / 4,
                OutputTokenCount = (text.Length + 3) / 4,
                TotalTokenCount = (prompt.Length + 3) / 4 + (text.Length + 3) / 4,
            },
        };
        return Task.FromResult(response);
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var response = await GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
        foreach (var update in response.ToChatResponseUpdates()) yield return update;
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose() { }

    /// <summary>The completion for a request: the last user turn's question (or the whole prompt's last one).</summary>
    string Answer(IReadOnlyList<ChatMessage> messages, long requestSeed)
    {
        var lastUser = messages.LastOrDefault(m => m.Role == ChatRole.User)?.Text ?? "";
        if (!LegsTask.TryParseQuestion(lastUser, out var animals))
            return "I can only answer the built-in legs task (\"How many legs in total: spider, cat, hen?\"); " +
                   "this request has no such question in its last user message.";
        return Solve(animals, requestSeed);
    }

    /// <summary>The rationale and answer line for <paramref name="animals"/>; deterministic per request seed.</summary>
    internal string Solve(IReadOnlyList<string> animals, long requestSeed)
    {
        var rng = new Random(StableHash(string.Join(",", animals), requestSeed, _options.Seed));
        var legs = animals.Select(a => LegsTask.Animals[a]).ToArray();
        int total;
        if (rng.NextDouble() < _options.ErrorRate)
        {
            if (rng.Next(2) == 0)
            {
                // A wrong fact: one animal gets another plausible leg count, and the sum follows it.
                int i = rng.Next(legs.Length);
                legs[i] = WrongLegs(legs[i], rng);
                total = legs.Sum();
            }
            else
            {
                // Right facts, slipped addition.
                total = legs.Sum() + (rng.Next(2) == 0 ? -2 : 2);
                if (total < 0) total = legs.Sum() + 2;
            }
        }
        else total = legs.Sum();
        var rationale = LegsRationale.Write(animals, legs, total, rng.Next(LegsRationale.Variants));
        var answerLine = $"So the answer is {total.ToString(CultureInfo.InvariantCulture)}.";
        return rationale + " " + answerLine;
    }

    static int WrongLegs(int right, Random rng)
    {
        int[] choices = [0, 2, 4, 6, 8];
        int wrong;
        do wrong = choices[rng.Next(choices.Length)]; while (wrong == right);
        return wrong;
    }

    // FNV-1a over UTF-8: string.GetHashCode is randomised per process, and answers must not change between runs.
    static int StableHash(string text, long requestSeed, int clientSeed)
    {
        uint h = 2166136261;
        void Mix(byte b) { h ^= b; h *= 16777619; }
        foreach (var b in Encoding.UTF8.GetBytes(text)) Mix(b);
        foreach (var b in BitConverter.GetBytes(requestSeed)) Mix(b);
        foreach (var b in BitConverter.GetBytes(clientSeed)) Mix(b);
        return (int)(h & 0x7FFFFFFF);
    }
}
