using StepDistill.Evaluation;
using StepDistill.Teacher.Parsing;

namespace StepDistill.Teacher.Tests;

/// <summary>The teacher's arithmetic parser and the equation metric share one evaluator, so they judge answers alike.</summary>
public sealed class ArithmeticAgreementTests
{
    // (teacher's answer span, gold label): matches, near misses, rewritings, thousands separators, units and junk.
    static readonly (string Answer, string Gold)[] Cases =
    [
        ("42", "( 84.0 / 2.0 )"), ("84 / 2", "( 84.0 / 2.0 )"), ("(84 / 2)", "42.0"), ("84 / 2 = 42", "42.0"),
        ("42.0000001", "42.0"), ("41.9999999", "42.0"), ("43", "( 84.0 / 2.0 )"), ("$42", "42.0"), ("42 apples", "42.0"),
        ("1,250", "1250.0"), ("1,250 dollars", "( 1000.0 + 250.0 )"), ("12,50", "1250.0"), ("0.1 + 0.2", "0.3"),
        ("0.3", "( 0.1 + 0.2 )"), ("( 10.0 / 4.0 )", "2.5"), ("2.5", "( 5.0 / 2.0 )"), ("10 / 3", "3.3333333333333335"),
        ("10 / 3", "3.333333"), ("3 × 4", "12.0"), ("12 ÷ 4", "3.0"), ("-3 + 5", "2.0"), ("(3 + )", "3.0"),
        ("apples", "3.0"), ("1 / 0", "1.0"), ("((120 / 3) - 2.5)", "37.5"), ("120 / 3 - 2.5", "( ( 120.0 / 3.0 ) - 2.5 )"),
        ("7", "( 3.0 + 4.0 )"), ("3 + 4 = 8", "7.0"), ("1e3", "1000.0"), ("1000", "( 10.0 * 100.0 )"),
    ];

    [Fact]
    public void TeacherParser_AndEquationMetric_GiveTheSameVerdicts_On30Answers()
    {
        Assert.Equal(30, Cases.Length);
        var parser = AnswerParsers.Get("arithmetic");
        var verdicts = new List<string>();
        foreach (var (answer, gold) in Cases)
        {
            var normalized = parser.Normalize(answer, "", out _);
            var teacher = normalized is not null && parser.Matches(normalized, gold, "");
            var metric = Metrics.IsCorrect(MetricKind.Equation, normalized, gold);
            Assert.True(teacher == metric, $"'{answer}' vs '{gold}': teacher {teacher}, metric {metric} (normalized '{normalized}')");
            verdicts.Add($"{answer}={teacher}");
        }
        // Both verdicts occur, so the comparison is not vacuous.
        Assert.Contains(verdicts, v => v.EndsWith("=True", StringComparison.Ordinal));
        Assert.Contains(verdicts, v => v.EndsWith("=False", StringComparison.Ordinal));
        Assert.True(parser.Matches(parser.Normalize("1,250", "", out _)!, "1250.0", ""));
        Assert.False(parser.Matches(parser.Normalize("42.0000001", "", out _)!, "42.0", "")); // exact, like the metric
    }
}
