using StepDistill.Data;

namespace StepDistill.Tests.Data;

/// <summary>The official parsing rules of shared/datasets/README.md section 6, one quirk per case.</summary>
public class PalmOutputParserTests
{
    [Fact]
    public void Svamp_cuts_the_continuation_and_takes_the_parenthesised_stretch()
    {
        var (r, l) = PalmOutputParser.ParseSvamp("He has 84 / 2 = 42. The answer is (84 / 2).\n\nQ: Another? A: x. The answer is (1 + 1).");
        Assert.Equal("He has 84 / 2 = 42.", r);
        Assert.Equal("(84 / 2)", l);
    }

    [Theory]
    [InlineData("So (3 + 4). The answer is (3 + 4) and (5 - 1).", "(3 + 4) and (5 - 1)")] // first '(' to last ')'
    [InlineData("x. The answer is 7 (3 + 4.", " ")]                                       // no ')' after '('
    [InlineData("x. The answer is 7.", " ")]
    [InlineData("x. The answer is (1 +\n2) or (3).", "(3)")]                               // '.' stops at a newline
    [InlineData("x. The answer is ((415 - 309).", "((415 - 309)")]
    public void Svamp_label_rule(string output, string label) =>
        Assert.Equal(label, PalmOutputParser.ParseSvamp(output).Item2);

    [Theory]
    [InlineData("No answer here, just repeating repeating")]
    [InlineData("The answer is (1). The answer is (2).")] // two markers: three parts
    public void Svamp_without_exactly_one_answer_marker_gives_spaces(string output) =>
        Assert.Equal((" ", " "), PalmOutputParser.ParseSvamp(output));

    [Fact]
    public void Svamp_marker_after_the_continuation_does_not_count() =>
        Assert.Equal((" ", " "), PalmOutputParser.ParseSvamp("Some thinking.\n\nQ: next? The answer is (1 + 2)."));

    [Theory]
    [InlineData("Reason. So the answer is (c) wooded area.", "wooded area")]
    [InlineData("Reason. So the answer is either (c) country club or (d) fitness center.", "country club or")]
    [InlineData("Reason. So the answer is (b) Washington D.C.", "Washington D.C")]
    [InlineData("Reason. So the answer is (a) Michigan.\n\nQ: other (b) thing", "Michigan")]
    [InlineData("Reason. So the answer is wooded area.", " ")]   // no marker
    [InlineData("Reason. So the answer is (c) .", "")]          // only the period: dropped, leaving ""
    [InlineData("Reason. So the answer is (c)   ", " ")]        // nothing after the marker
    [InlineData("Reason. So the answer is (ab) x.", " ")]       // a marker is one character
    public void Cqa_label_rule(string output, string label)
    {
        var parsed = PalmOutputParser.ParseCqa(output);
        Assert.NotNull(parsed);
        Assert.Equal("Reason.", parsed.Value.Item1);
        Assert.Equal(label, parsed.Value.Item2);
    }

    [Fact]
    public void Cqa_without_the_marker_is_an_error_for_the_caller()
    {
        Assert.Null(PalmOutputParser.ParseCqa("Reason. The answer is (a) x."));
        Assert.Null(PalmOutputParser.Parse(TaskKind.Cqa, "So the answer is (a) x. So the answer is (b) y."));
    }

    [Theory]
    [InlineData("Because. So the answer is contradiction.\n\nPremise: p\nHypothesis: h So the answer is x.", "Because.", "contradiction")]
    [InlineData("Because.  So the answer is   neutral.", "Because.", "neutral")]
    [InlineData("Because. So the answer is neutral", "Because.", "neutra")] // drops the last character, period or not
    [InlineData("Because, so the answer is neutral.", "", "")]              // lower case: no marker
    [InlineData("So the answer is a. So the answer is b.", "", "")]
    [InlineData("Why. So the answer is", "Why.", "")]
    public void Anli_rule(string output, string rationale, string label) =>
        Assert.Equal((rationale, label), PalmOutputParser.ParseAnli(output));

    [Theory]
    [InlineData("Packages.\nAnswer: neutral\n\nPremise: p\nHypothesis: h\nReasonings: r\nAnswer: entailment", "Packages.", "neutral")]
    [InlineData("Cut off.\nAnswer: entailment\n\nPre", "Cut off.", "entailment\n\nPre")]
    [InlineData("Never answers.\n\nPremise: p", "Never answers.\n\nPremise: p", " ")]
    [InlineData("R.\nAnswer:neutral", "R.", " ")]                      // 'Answer:' without the space: no label
    [InlineData("R.\nAnswer: a Answer: b", "R.", "a")]
    public void Esnli_rule(string output, string rationale, string label) =>
        Assert.Equal((rationale, label), PalmOutputParser.ParseEsnli(output));

    [Fact]
    public void Trimming_follows_python_whitespace() =>
        // U+001F is whitespace to Python's str.rstrip but not to char.IsWhiteSpace.
        Assert.Equal("Because.", PalmOutputParser.ParseAnli("Because.\u001f So the answer is neutral.").Item1);

    [Fact]
    public void Generic_task_has_no_parser() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => PalmOutputParser.Parse(TaskKind.Generic, "x"));
}
