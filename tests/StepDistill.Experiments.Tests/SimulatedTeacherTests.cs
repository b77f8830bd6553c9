using Microsoft.Extensions.AI;
using StepDistill.Experiments.DemoTask;
using StepDistill.Experiments.SimulatedTeacher;

namespace StepDistill.Experiments.Tests;

public sealed class SimulatedTeacherTests
{
    static readonly IReadOnlyList<LegsQuestion> Questions =
        LegsTask.Generate(new LegsTaskOptions { Seed = 11, TrainSize = 1500, DevSize = 0, TestSize = 0, MinAnimals = 2, MaxAnimals = 5 }).Train;

    // The chat-style request the teacher pipeline sends: instructions, exemplar turns, then the new question.
    static List<ChatMessage> ChatRequest(string input)
    {
        var messages = new List<ChatMessage> { new(ChatRole.System, LegsPrompt.Instructions) };
        foreach (var e in LegsPrompt.Exemplars)
        {
            messages.Add(new ChatMessage(ChatRole.User, "Q: " + e.Input));
            messages.Add(new ChatMessage(ChatRole.Assistant, $"A: {e.Rationale} So the answer is {e.Answer}."));
        }
        messages.Add(new ChatMessage(ChatRole.User, "Q: " + input));
        return messages;
    }

    [Fact]
    public async Task Error_rate_zero_answers_every_question_right_with_a_parseable_rationale()
    {
        using var client = new SimulatedTeacherChatClient(new SimulatedTeacherOptions { ErrorRate = 0 });
        var phrasings = new HashSet<string>();
        foreach (var q in Questions.Take(400))
        {
            var r = await client.GetResponseAsync(ChatRequest(q.Input));
            Assert.True(LegsTask.TryParseCompletion(r.Text, out var rationale, out var answer), r.Text);
            Assert.Equal(q.Answer, answer);
            Assert.Contains(string.Join(" + ", q.Legs) + " = " + q.Answer, rationale);
            phrasings.Add(rationale.Split(' ')[0]);
        }
        Assert.True(phrasings.Count >= 3, $"phrasing barely varies: {string.Join(", ", phrasings)}");
    }

    [Fact]
    public async Task Task_tokenizer_covers_questions_and_teacher_rationales_without_unk()
    {
        var tok = LegsTask.BuildTokenizer();
        using var client = new SimulatedTeacherChatClient(new SimulatedTeacherOptions { ErrorRate = 0.5 });
        foreach (var q in Questions.Take(300))
        {
            var r = await client.GetResponseAsync(ChatRequest(q.Input));
            Assert.True(LegsTask.TryParseCompletion(r.Text, out var rationale, out var answer));
            foreach (var text in new[] { "predict: " + q.Input, "explain: " + q.Input, rationale,
                answer.ToString(System.Globalization.CultureInfo.InvariantCulture) })
                Assert.DoesNotContain(StepDistill.Tokenization.ITextTokenizer.UnkId, tok.Encode(text));
        }
        Assert.Equal(LegsTask.BuildTokenizer().Tokens, tok.Tokens);
        // Small enough for a tiny embedding table: one id per word.
        Assert.InRange(tok.VocabSize, 80, 600); // 67 real and 300 invented creatures, the numbers and the phrasings
    }

    [Fact]
    public async Task Completion_style_prompt_is_answered_too()
    {
        using var client = new SimulatedTeacherChatClient(new SimulatedTeacherOptions { ErrorRate = 0 });
        var q = Questions[0];
        var r = await client.GetResponseAsync([new ChatMessage(ChatRole.User, LegsPrompt.RenderText(q.Input))]);
        Assert.True(LegsTask.TryParseCompletion(r.Text, out _, out var answer));
        Assert.Equal(q.Answer, answer);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.3)]
    public async Task Observed_error_rate_is_close_to_the_configured_one(double rate)
    {
        using var client = new SimulatedTeacherChatClient(new SimulatedTeacherOptions { ErrorRate = rate, Seed = 5 });
        int wrong = 0, wrongStep = 0;
        foreach (var q in Questions)
        {
            var r = await client.GetResponseAsync(ChatRequest(q.Input));
            Assert.True(LegsTask.TryParseCompletion(r.Text, out var rationale, out var answer), r.Text);
            if (answer == q.Answer) continue;
            wrong++;
            if (!rationale.Contains(string.Join(" + ", q.Legs) + " = ", StringComparison.Ordinal)) wrongStep++;
        }
        double observed = (double)wrong / Questions.Count;
        // 1500 draws: the standard error is at most 1.2 points; allow about 4 of them.
        Assert.InRange(observed, rate - 0.05, rate + 0.05);
        // Both kinds of mistake occur: a wrong step that propagates, and a slip in the final sum.
        Assert.InRange(wrongStep, 1, wrong - 1);
    }

    [Fact]
    public async Task Same_request_gives_same_text_and_other_sample_seeds_vary()
    {
        using var client = new SimulatedTeacherChatClient(new SimulatedTeacherOptions { ErrorRate = 0.2 });
        var q = Questions[7];
        var first = (await client.GetResponseAsync(ChatRequest(q.Input), new ChatOptions { Seed = 1 })).Text;
        var again = (await client.GetResponseAsync(ChatRequest(q.Input), new ChatOptions { Seed = 1 })).Text;
        Assert.Equal(first, again);
        var others = new HashSet<string>();
        for (int s = 0; s < 20; s++) others.Add((await client.GetResponseAsync(ChatRequest(q.Input), new ChatOptions { Seed = s })).Text);
        Assert.True(others.Count > 1);
    }

    [Fact]
    public async Task Reports_a_simulated_model_id_and_token_usage()
    {
        using var client = new SimulatedTeacherChatClient();
        var r = await client.GetResponseAsync(ChatRequest(Questions[0].Input));
        Assert.Contains("simulated", r.ModelId);
        Assert.Contains("simulated", client.GetService<ChatClientMetadata>()!.DefaultModelId);
        Assert.True(r.Usage!.InputTokenCount > r.Usage.OutputTokenCount);
        Assert.True(r.Usage.OutputTokenCount > 5);
        Assert.Equal(ChatFinishReason.Stop, r.FinishReason);
    }

    [Fact]
    public async Task Streaming_returns_the_same_text()
    {
        using var client = new SimulatedTeacherChatClient();
        var messages = ChatRequest(Questions[3].Input);
        var whole = (await client.GetResponseAsync(messages)).Text;
        var parts = new List<string>();
        await foreach (var u in client.GetStreamingResponseAsync(messages)) parts.Add(u.Text);
        Assert.Equal(whole, string.Concat(parts));
    }

    [Fact]
    public async Task A_request_without_a_legs_question_gets_no_answer_line()
    {
        using var client = new SimulatedTeacherChatClient();
        var r = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Q: What is the capital of France?")]);
        Assert.False(LegsTask.TryParseCompletion(r.Text, out _, out _));
    }

    [Fact]
    public void Error_rate_outside_zero_to_one_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SimulatedTeacherChatClient(new SimulatedTeacherOptions { ErrorRate = 1.5 }));
    }
}
