using StepDistill.Teacher.Parsing;
using StepDistill.Teacher.Prompts;

namespace StepDistill.Teacher.Tests;

public class ParsingTests
{
    static ParsedCompletion Parse(string prompt, string completion, string input = "") =>
        AnswerParsers.Parse(PromptLibrary.Resolve(prompt), AnswerParsers.Get(PromptLibrary.Resolve(prompt).Task), completion, input);

    [Theory]
    [InlineData("Luke scored 84 in 2 rounds. 84 / 2 = 42. The answer is (84 / 2).", "( 84.0 / 2.0 )")]
    [InlineData("He has 3 + 4 = 7. So the answer is 3 + 4 = 7.", "( 3.0 + 4.0 )")]
    [InlineData("Simple. So the answer is 42.", "42.0")]
    [InlineData("Money. So the answer is $1,250 dollars.", "1250.0")]
    [InlineData("Mixed. So the answer is ((120 / 3) - 2.5)", "( ( 120.0 / 3.0 ) - 2.5 )")]
    public void Arithmetic_answers_are_normalised_to_svamp_equations(string completion, string expected)
    {
        var p = Parse("svamp", completion);
        Assert.True(p.Ok, p.Reason);
        Assert.Equal(expected, p.Answer);
    }

    [Fact]
    public void Palm_style_run_on_is_cut_at_the_next_question()
    {
        // The shape of PaLM's outputs in shared/datasets: the answer, then an invented next exemplar.
        var p = Parse("svamp", "There are 120 students. So the answer is (120 / 3).\n\nQ: Made up?\nA: Something. The answer is (5 + 5).");
        Assert.True(p.Ok);
        Assert.Equal("( 120.0 / 3.0 )", p.Answer);
        Assert.Equal("There are 120 students.", p.Rationale);
    }

    [Fact]
    public void Arithmetic_agreement_compares_values()
    {
        IAnswerParser a = AnswerParsers.Get("arithmetic");
        Assert.True(a.Matches("42.0", "( 84.0 / 2.0 )", ""));
        Assert.False(a.Matches("43.0", "( 84.0 / 2.0 )", ""));
        Assert.Equal(a.VoteKey("( 40.0 + 2.0 )"), a.VoteKey("42.0"));
    }

    [Theory]
    [InlineData("No phrase at all, just rambling", "no answer phrase")]
    [InlineData("Reasoning. So the answer is apples.", "not a number or an equation")]
    [InlineData("Reasoning. So the answer is (3 + ).", "not a valid equation")]
    [InlineData("So the answer is 5.", "empty rationale")]
    [InlineData("", "empty completion")]
    public void Unparseable_completions_say_why(string completion, string reason)
    {
        var p = Parse("svamp", completion);
        Assert.False(p.Ok);
        Assert.Contains(reason, p.Reason);
    }

    const string CqaInput = "Where do you keep milk cold?\nAnswer Choices:\n(a) oven\n(b) refrigerator\n(c) cupboard\n(d) mailbox\n(e) bathtub";

    [Theory]
    [InlineData("Cold needs a fridge. So the answer is (b) refrigerator.", "refrigerator")]
    [InlineData("Cold needs a fridge. So the answer is (b).", "refrigerator")]
    [InlineData("Cold needs a fridge. So the answer is B", "refrigerator")]
    [InlineData("Cold needs a fridge. So the answer is Refrigerator.", "refrigerator")]
    public void Choices_map_letters_and_texts_to_the_option_text(string completion, string expected)
    {
        var p = Parse("cqa", completion, CqaInput);
        Assert.True(p.Ok, p.Reason);
        Assert.Equal(expected, p.Answer);
    }

    [Fact]
    public void Choice_outside_the_options_is_unparseable()
    {
        var p = Parse("cqa", "Hmm. So the answer is (g) garage.", CqaInput);
        Assert.False(p.Ok);
        Assert.Contains("choice (g) is not one of the options", p.Reason);
        Assert.False(Parse("cqa", "Hmm. So the answer is a spaceship.", CqaInput).Ok);
    }

    [Theory]
    [InlineData("It follows. So the answer is entailment.", "entailment")]
    [InlineData("Cannot tell. So the answer is it is not possible to tell.", "neutral")]
    [InlineData("They clash. The answer is Contradiction", "contradiction")]
    [InlineData("It follows. So the answer is yes.", "entailment")]
    public void Nli_labels_are_normalised(string completion, string expected)
    {
        var p = Parse("anli", completion);
        Assert.True(p.Ok, p.Reason);
        Assert.Equal(expected, p.Answer);
    }

    [Fact]
    public void Nli_gold_accepts_numeric_labels_and_run_on_is_cut_at_premise()
    {
        IAnswerParser nli = AnswerParsers.Get("nli");
        Assert.True(nli.Matches("contradiction", "2", ""));
        Assert.False(nli.Matches("neutral", "0", ""));
        var p = Parse("esnli", "A dog is an animal. So the answer is entailment.\n\nPremise: made up\nHypothesis: x\nA: So the answer is neutral.");
        Assert.Equal("entailment", p.Answer);
        Assert.False(Parse("esnli", "Unsure. So the answer is perhaps.").Ok);
    }
}
