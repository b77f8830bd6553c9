using System.Globalization;
using StepDistill.Experiments.Runner;

namespace StepDistill.Experiments.Demo;

/// <summary>What the headlines compare: the rows of the report and the facts outside it.</summary>
internal sealed record HeadlineInputs(IReadOnlyList<Report.Point> Points, int TrainSize, double Alpha, string Student, string? LargeStudent,
                                      double? SizeRatio, double? TeacherTestAccuracy, bool SimulatedTeacher);

/// <summary>
/// The paper's three claims in miniature, each computed from the demo's runs and stated in one sentence:
/// less data, a smaller model, and a student beyond its teacher. A claim the runs do not support is stated as not
/// shown, never left out.
/// </summary>
internal static class DemoHeadlines
{
    public static IReadOnlyList<string> Write(HeadlineInputs h)
    {
        ArgumentNullException.ThrowIfNull(h);
        // The report's row names for the demo's two methods (one place: Report.MethodLabel).
        string Row(MethodSpec method, string? model = null) => Report.MethodLabel(new Cell(method, 1.0, 0, h.Alpha, model));
        var stepByStep = Row(DemoRunner.StepByStep);
        var full = Find(h.Points, Row(DemoRunner.Standard), 1.0);
        var sbsFull = Find(h.Points, stepByStep, 1.0);
        var lines = new List<string>();

        // (a) Less data: the smallest share at which step-by-step reaches standard fine-tuning on all the data.
        if (full is not null)
        {
            var reach = h.Points.Where(p => p.Method == stepByStep && p.Mean >= full.Mean).OrderBy(p => p.Fraction).FirstOrDefault();
            lines.Add(reach is not null && reach.Fraction < 1
                ? I($"Less data: step-by-step with {Share(reach.Fraction, h.TrainSize)} of the training data scores {reach.Mean * 100:F1}%, ") +
                  I($"at or above standard fine-tuning with all {h.TrainSize} examples ({full.Mean * 100:F1}%).")
                : I($"Less data: not shown in this run; step-by-step did not reach standard fine-tuning's {full.Mean * 100:F1}% ") +
                  "(all the data) with less data.");
        }

        // (b) Smaller model: step-by-step with the grid's student against standard fine-tuning of a larger one.
        if (sbsFull is not null && h.LargeStudent is not null && Find(h.Points, Row(DemoRunner.Standard, h.LargeStudent), 1.0) is { } large)
        {
            var ratio = h.SizeRatio is { } r ? I($"{r:0.#}× larger ") : "larger ";
            lines.Add(I($"Smaller model: step-by-step with the `{h.Student}` student scores {sbsFull.Mean * 100:F1}% on all the data, ") +
                      (sbsFull.Mean >= large.Mean ? "above" : "below") +
                      I($" standard fine-tuning of the {ratio}`{h.LargeStudent}` student with the same data and training budget ({large.Mean * 100:F1}%)."));
        }

        // (c) Beyond the teacher: the student against the teacher on the same test questions.
        if (sbsFull is not null && h.TeacherTestAccuracy is { } teacher)
        {
            var who = h.SimulatedTeacher ? "the simulated teacher" : "the teacher";
            lines.Add(I($"Beyond the teacher: the step-by-step student answers {sbsFull.Mean * 100:F1}% of the test questions right, ") +
                      I($"{who} {teacher * 100:F1}% of the same questions") +
                      (sbsFull.Mean > teacher ? " (the student learned from the teacher's rationales and the gold labels, and makes fewer mistakes)."
                                               : "; the student does not beat its teacher in this run."));
        }
        return lines;
    }

    static Report.Point? Find(IReadOnlyList<Report.Point> points, string method, double fraction) =>
        points.FirstOrDefault(p => p.Method == method && p.Fraction == fraction);

    static string Share(double fraction, int trainSize) => I($"{fraction * 100:0.#}% ({(int)Math.Ceiling(fraction * trainSize)} examples)");

    static string I(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
