using Microsoft.Extensions.AI;
using StepDistill.Teacher.Parsing;
using StepDistill.Teacher.Prompts;

namespace StepDistill.Teacher.Tests;

public class PromptTests
{
    [Theory]
    [InlineData("svamp", "arithmetic")]
    [InlineData("cqa", "choice")]
    [InlineData("anli", "nli")]
    [InlineData("esnli", "nli")]
    public void Built_in_prompts_load_and_their_exemplars_parse_with_their_own_parser(string name, string task)
    {
        var p = PromptLibrary.Resolve(name);
        Assert.Equal(task, p.Task);
        Assert.InRange(p.Exemplars.Count, 4, 8);
        var parser = AnswerParsers.Get(p.Task);
        foreach (var e in p.Exemplars)
        {
            // Each exemplar, rendered as the model should answer, must parse back to its own answer.
            var rendered = $"{p.OutputPrefix} {e.Rationale} {p.AnswerPhrase} {e.Answer}.";
            var parsed = AnswerParsers.Parse(p, parser, rendered, e.Input);
            Assert.True(parsed.Ok, $"{name}: {parsed.Reason}");
            Assert.True(parser.Matches(parsed.Answer!, e.Answer, e.Input), $"{name}: {parsed.Answer} vs {e.Answer}");
        }
    }

    [Fact]
    public void Chat_style_alternates_exemplar_turns_and_ends_with_the_input()
    {
        var p = PromptLibrary.Resolve("svamp");
        var m = p.Render("How many?");
        Assert.Equal(ChatRole.System, m[0].Role);
        Assert.Equal(2 + 2 * p.Exemplars.Count, m.Count);
        Assert.Equal(ChatRole.Assistant, m[2].Role);
        Assert.EndsWith($"So the answer is {p.Exemplars[0].Answer}.", m[2].Text);
        Assert.Equal("Q: How many?", m[^1].Text);
    }

    [Fact]
    public void Completion_style_is_one_text_ending_with_the_output_prefix()
    {
        var p = PromptLibrary.Resolve("cqa") with { Style = PromptStyle.Completion };
        var m = Assert.Single(p.Render("Why?"));
        Assert.EndsWith("\n\nQ: Why?\nA:", m.Text);
        Assert.StartsWith(p.Instructions, m.Text);
    }

    const string Custom = """
        # my task
        name: sentiment
        task: text
        style: completion
        input_prefix: Review:
        output_prefix: Verdict:
        answer_phrase: Overall it is
        stop: \n\nReview:

        [instructions]
        Classify the review.

        [input]
        Great food.
        [rationale]
        Praises the food.
        [answer]
        positive
        """;

    [Fact]
    public void A_user_prompt_file_sets_markers_stop_and_examples()
    {
        var p = PromptFile.Parse(Custom, "my.prompt");
        Assert.Equal("sentiment", p.Name);
        Assert.Equal(PromptStyle.Completion, p.Style);
        Assert.Equal(["\n\nReview:"], p.StopSequences);
        Assert.Equal("Classify the review.\n\nReview: Great food.\nVerdict: Praises the food. Overall it is positive.\n\nReview: Bad.\nVerdict:",
            p.RenderText("Bad."));
        var parsed = AnswerParsers.Parse(p, AnswerParsers.Get("text"), " Mean staff. Overall it is negative.\n\nReview: next", "");
        Assert.Equal("negative", parsed.Answer);
    }

    [Theory]
    [InlineData("task: text\n[input]\nx\n[answer]\ny\n", "my.prompt line 2: the example is missing its [rationale] block")]
    [InlineData("task: text\nbogus line\n", "my.prompt line 2: expected 'key: value' or a [section] line, got 'bogus line'")]
    [InlineData("task: nope\n[input]\nx\n[rationale]\nr\n[answer]\ny\n", "my.prompt: unknown task 'nope'")]
    [InlineData("task: text\ncolour: red\n", "my.prompt line 2: unknown setting 'colour'")]
    [InlineData("task: text\n[input]\nx\n[rationale]\n\n[answer]\ny\n", "my.prompt line 4: the [rationale] block is empty")]
    [InlineData("task: text\n", "my.prompt: no examples")]
    public void Prompt_file_errors_name_the_line(string text, string expected)
    {
        var e = Assert.Throws<StepDistillException>(() => PromptFile.Parse(text, "my.prompt"));
        Assert.StartsWith(expected, e.Message);
    }

    [Fact]
    public void Teacher_spec_errors_are_clear()
    {
        var e = Assert.Throws<StepDistillException>(() => Clients.TeacherFactory.Create("gpt4", new Clients.TeacherOptions()));
        Assert.Contains("must look like <kind>:<model>", e.Message);
        e = Assert.Throws<StepDistillException>(() => Clients.TeacherFactory.Create("bard:x", new Clients.TeacherOptions()));
        Assert.Contains("unknown kind 'bard'", e.Message);
        e = Assert.Throws<StepDistillException>(() => Clients.TeacherFactory.Create("openai:gpt-4o",
            new Clients.TeacherOptions { ApiKeyEnv = "STEPDISTILL_TEST_KEY_UNSET" }));
        Assert.Equal("ApiKeyEnv = STEPDISTILL_TEST_KEY_UNSET: this environment variable, which should hold the API key, is not set (set it, or name " +
            "another)", e.Message);
    }
}
