using StepDistill.Evaluation;

namespace StepDistill.Tests.Evaluation;

public class EquationEvaluatorTests
{
    [Theory]
    [InlineData("( 10.0 * 45.0 )", 450.0)]
    [InlineData("(10 * 45)", 450.0)]
    [InlineData("( ( 17.0 + 15.0 ) + 2.0 )", 34.0)]
    [InlineData("-3 + 4", 1.0)]
    [InlineData("- -3", 3.0)]
    [InlineData("+5", 5.0)]
    [InlineData("2 - 3 - 4", -5.0)]      // left associative
    [InlineData("24 / 4 / 2", 3.0)]      // left associative
    [InlineData("2 + 3 * 4", 14.0)]      // precedence
    [InlineData("-2 * 3", -6.0)]
    [InlineData("(((((1)))))", 1.0)]
    [InlineData("((2 + 3) * (4 - (1 / 2)))", 17.5)]
    [InlineData("\t 7 /\n2 ", 3.5)]
    [InlineData(".5 + 5.", 5.5)]
    [InlineData("1e3", 1000.0)]
    [InlineData("2.5E-1", 0.25)]
    [InlineData("0", 0.0)]
    [InlineData("00", 0.0)]
    [InlineData("05.0", 5.0)]
    [InlineData("84 / 2", 42.0)]
    public void Evaluates_arithmetic(string expression, double expected)
    {
        Assert.True(EquationEvaluator.TryEvaluate(expression, out var v), expression);
        Assert.Equal(expected, v);
    }

    [Theory]
    [InlineData("((415 - 309)")]            // unbalanced
    [InlineData("(415 - 309))")]
    [InlineData("(175, 5)")]                 // a Python tuple
    [InlineData("(95 * 118) + (11,210 / 84)")]
    [InlineData("(2 * x)")]
    [InlineData("(some - 8)")]
    [InlineData("(7x = 14)")]
    [InlineData("(29/2) and (30/2)")]        // Python: 15.0; rejected here (docs/data.md)
    [InlineData("(34 + 40) and (62 - 17)")]
    [InlineData("1 or 2")]
    [InlineData("1/0")]
    [InlineData("(5 - 5) / (3 - 3)")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(" ")]
    [InlineData("()")]
    [InlineData("2 ** 3")]
    [InlineData("7 // 2")]
    [InlineData("7 % 2")]
    [InlineData("2(3)")]
    [InlineData("1_000")]
    [InlineData("0x10")]
    [InlineData("3j")]
    [InlineData("05")]                       // Python 3 rejects leading zeros on integers
    [InlineData("1.2.3")]
    [InlineData("1e")]
    [InlineData("__import__('os')")]
    [InlineData("1e308 * 10")]               // overflow to infinity
    [InlineData("4 +")]
    [InlineData("* 4")]
    public void Rejects_anything_else(string expression)
    {
        Assert.False(EquationEvaluator.TryEvaluate(expression, out var v), expression);
        Assert.True(double.IsNaN(v));
    }

    [Fact]
    public void Rejects_null_and_deep_nesting_without_overflowing_the_stack()
    {
        Assert.False(EquationEvaluator.TryEvaluate(null, out _));
        var deep = new string('(', 100_000) + "1" + new string(')', 100_000);
        Assert.False(EquationEvaluator.TryEvaluate(deep, out _));
        var signs = new string('-', 100_000) + "1";
        Assert.False(EquationEvaluator.TryEvaluate(signs, out _));
        Assert.True(EquationEvaluator.TryEvaluate(new string('(', 50) + "1" + new string(')', 50), out var v));
        Assert.Equal(1.0, v);
    }

    [Theory]
    [InlineData("(10 * 45)", "( 10.0 * 45.0 )", true)]
    [InlineData("(84 / 2)", "( 84.0 / 2.0 )", true)]
    [InlineData("(7 * 36)", "( 7.0 * 30.0 )", false)]
    [InlineData("(0.1 + 0.2)", "( 0.3 )", false)]      // exact double equality, as the official metric
    [InlineData("(2 * x)", "(2 * x)", false)]           // not a number on both sides is still wrong
    [InlineData("1/0", "1/0", false)]
    [InlineData(" ", "( 1.0 )", false)]
    [InlineData("(3 - 1)", "( 4.0 / 2.0 )", true)]
    public void Values_equal_follows_the_official_rule(string prediction, string label, bool expected) =>
        Assert.Equal(expected, EquationEvaluator.ValuesEqual(prediction, label));
}
