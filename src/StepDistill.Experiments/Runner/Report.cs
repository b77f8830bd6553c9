using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using StepDistill.Training;

namespace StepDistill.Experiments.Runner;

/// <summary>What a report says besides the cell results.</summary>
internal sealed record ReportInfo(string Title, string Setup, double? TeacherAccuracy, string? TeacherNote, int TrainSize,
                                IReadOnlyDictionary<string, double> TimingsSeconds)
{
    /// <summary>A paragraph under the title: what was compared, in plain words.</summary>
    public string? Intro { get; init; }

    /// <summary>One-sentence findings shown first (the demo's three headlines).</summary>
    public IReadOnlyList<string> Headlines { get; init; } = [];

    /// <summary>The teacher's accuracy on the evaluation split's questions, when it answered them.</summary>
    public double? TeacherEvalAccuracy { get; init; }

    /// <summary>The most frequent training label and its accuracy on the evaluation split: the floor a student must clear.</summary>
    public (string Answer, double Accuracy)? ConstantAnswer { get; init; }
}

/// <summary>A paired comparison at one fraction: <see cref="Method"/> − <see cref="Baseline"/> over the seeds both ran.</summary>
internal sealed record PairedRow(double Fraction, string Baseline, string Method, PairedDifference Difference);

/// <summary>
/// Writes <c>report.md</c> (table, setup, teacher accuracy, timings), <c>accuracy_vs_data.png</c> (accuracy against
/// training-set size, one line per method with the spread over seeds) and <c>results.json</c>.
/// </summary>
internal static class Report
{
    public const string MarkdownFile = "report.md";
    public const string PlotFile = "accuracy_vs_data.png";
    public const string JsonFile = "results.json";
    public const int PlotWidth = 800, PlotHeight = 500;

    /// <summary>Mean and (population) standard deviation of one method at one fraction, over seeds.</summary>
    public sealed record Point(string Method, double Fraction, double Mean, double Std, int Seeds);

    /// <summary>The row name of a cell's method: method, labels, α when not the paper's 0.5, and the student when not the grid's.</summary>
    public static string MethodLabel(Cell c) => (c.Method.Method == Training.Method.StepByStep
        ? (c.Alpha == 0.5 ? $"{c.Method.Method.Name()} ({c.Method.Labels.Name()})" : string.Create(CultureInfo.InvariantCulture,
            $"{c.Method.Method.Name()} ({c.Method.Labels.Name()}, α={c.Alpha:0.###})"))
        : c.Method.Labels == Training.LabelSource.Gold ? "standard fine-tuning" : "standard distillation")
        + (c.Model is null ? "" : $", {c.Model} student");

    /// <summary>
    /// Every step-by-step row against every standard row of the grid's own student, per fraction, paired by seed
    /// (only seeds both ran).
    /// </summary>
    public static IReadOnlyList<PairedRow> Paired(IReadOnlyList<CellResult> results)
    {
        var rows = new List<PairedRow>();
        var own = results.Where(r => r.Cell.Model is null).ToList();
        foreach (var fraction in own.Select(r => r.Cell.Fraction).Distinct().Order())
        {
            var at = own.Where(r => r.Cell.Fraction == fraction).GroupBy(r => MethodLabel(r.Cell)).ToList();
            foreach (var baseline in at.Where(g => g.First().Cell.Method.Method == Training.Method.Standard))
                foreach (var method in at.Where(g => g.First().Cell.Method.Method == Training.Method.StepByStep))
                {
                    var seeds = baseline.Select(r => r.Cell.Seed).Intersect(method.Select(r => r.Cell.Seed)).Order().ToList();
                    if (seeds.Count == 0) continue;
                    var a = seeds.Select(s => baseline.First(r => r.Cell.Seed == s).EvalAccuracy).ToList();
                    var b = seeds.Select(s => method.First(r => r.Cell.Seed == s).EvalAccuracy).ToList();
                    rows.Add(new PairedRow(fraction, baseline.Key, method.Key, PairedDifference.Of(a, b)));
                }
        }
        return rows;
    }

    /// <summary>The paired comparisons as Markdown, in points: mean difference, 95% interval, seeds won / tied / lost.</summary>
    public static string PairedTable(IReadOnlyList<PairedRow> rows, int trainSize)
    {
        var sb = new StringBuilder("| share of data | compared | difference (points) | 95% interval | seeds won / tied / lost |\n" +
                                   "| --- | --- | ---: | ---: | ---: |\n");
        foreach (var r in rows)
        {
            var d = r.Difference;
            var interval = d.Low is { } lo && d.High is { } hi ? I($"{lo * 100:+0.0;-0.0} to {hi * 100:+0.0;-0.0}") : "(one seed)";
            sb.Append(I($"| {r.Fraction * 100:0.#}% ({(int)Math.Ceiling(r.Fraction * trainSize)}) | {r.Method} − {r.Baseline} | "))
              .Append(I($"{d.Mean * 100:+0.0;-0.0} | {interval}{(d.ClearlyAbove ? " (above 0)" : "")} | {d.Wins} / {d.Ties} / {d.Losses} |\n"));
        }
        return sb.ToString();
    }

    static string I(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    public static IReadOnlyList<Point> Aggregate(IReadOnlyList<CellResult> results) =>
        results.GroupBy(r => (MethodLabel(r.Cell), r.Cell.Fraction))
               .Select(g =>
               {
                   var xs = g.Select(r => r.EvalAccuracy).ToArray();
                   var mean = xs.Average();
                   return new Point(g.Key.Item1, g.Key.Fraction, mean, Math.Sqrt(xs.Select(x => (x - mean) * (x - mean)).Average()), xs.Length);
               })
               .OrderBy(p => p.Method, StringComparer.Ordinal).ThenBy(p => p.Fraction).ToList();

    /// <summary>The table as Markdown: one row per method, one column per fraction, mean accuracy (± spread).</summary>
    public static string Table(IReadOnlyList<Point> points, int trainSize)
    {
        var fractions = points.Select(p => p.Fraction).Distinct().Order().ToList();
        var sb = new StringBuilder();
        sb.Append("| method |");
        foreach (var f in fractions) sb.Append(CultureInfo.InvariantCulture, $" {f * 100:0.#}% ({(int)Math.Ceiling(f * trainSize)}) |");
        sb.Append('\n').Append("| --- |").Append(string.Concat(fractions.Select(_ => " ---: |"))).Append('\n');
        foreach (var method in points.Select(p => p.Method).Distinct())
        {
            sb.Append("| ").Append(method).Append(" |");
            foreach (var f in fractions)
            {
                var p = points.FirstOrDefault(x => x.Method == method && x.Fraction == f);
                var spread = p is { Seeds: > 1 } ? string.Create(CultureInfo.InvariantCulture, $" ± {p.Std * 100:F1}") : "";
                sb.Append(p is null ? " |" : string.Create(CultureInfo.InvariantCulture, $" {p.Mean * 100:F1}{spread} |"));
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    public static string Write(string outDir, ReportInfo info, IReadOnlyList<CellResult> results)
    {
        FileOps.CreateDirectory(outDir);
        var points = Aggregate(results);
        var paired = Paired(results);
        var split = results.FirstOrDefault()?.EvalSplit ?? "test";
        var evalCount = results.FirstOrDefault()?.EvalCount ?? 0;
        var table = Table(points, info.TrainSize);

        var json = new JsonObject
        {
            ["title"] = info.Title,
            ["eval_split"] = split,
            ["eval_n"] = evalCount,
            ["train_size"] = info.TrainSize,
            ["teacher_accuracy"] = info.TeacherAccuracy,
            ["teacher_eval_accuracy"] = info.TeacherEvalAccuracy,
            ["teacher_note"] = info.TeacherNote,
            ["constant_answer"] = info.ConstantAnswer is { } c ? new JsonObject { ["answer"] = c.Answer, ["accuracy"] = c.Accuracy } : null,
            ["headlines"] = new JsonArray([.. info.Headlines.Select(h => (JsonNode)h)]),
            ["runs"] = new JsonArray(results.Select(r =>
            {
                var o = r.ToJson();
                o["test_accuracy"] ??= r.EvalAccuracy; // the accuracy on the evaluation split, under the agreed name
                return (JsonNode)o;
            }).ToArray()),
            ["summary"] = new JsonArray(points.Select(p => (JsonNode)new JsonObject
            {
                ["method"] = p.Method, ["fraction"] = p.Fraction, ["mean_accuracy"] = p.Mean, ["std_accuracy"] = p.Std, ["seeds"] = p.Seeds,
            }).ToArray()),
            ["paired"] = new JsonArray(paired.Select(p => (JsonNode)new JsonObject
            {
                ["fraction"] = p.Fraction, ["method"] = p.Method, ["baseline"] = p.Baseline, ["pairs"] = p.Difference.Pairs,
                ["mean_difference"] = p.Difference.Mean, ["ci95_low"] = p.Difference.Low, ["ci95_high"] = p.Difference.High,
                ["wins"] = p.Difference.Wins, ["ties"] = p.Difference.Ties, ["losses"] = p.Difference.Losses,
            }).ToArray()),
            ["timings_s"] = new JsonObject(info.TimingsSeconds.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Math.Round(kv.Value, 1)))),
        };
        FileOps.WriteAllText(Path.Combine(outDir, JsonFile), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");

        Plot(Path.Combine(outDir, PlotFile), info, points, split);

        var md = new StringBuilder();
        md.Append("# ").Append(info.Title).Append("\n\n");
        if (info.Intro is { } intro) md.Append(intro.TrimEnd()).Append("\n\n");
        if (info.Headlines.Count > 0)
        {
            md.Append("## What it shows\n\n");
            foreach (var h in info.Headlines) md.Append("- ").Append(h).Append('\n');
            md.Append('\n');
        }
        md.Append(I($"{split} accuracy (%) by share of the training set ({info.TrainSize} examples at 100%), {evalCount} {split} questions"));
        md.Append(points.Any(p => p.Seeds > 1) ? ", mean ± standard deviation over seeds:\n\n" : ":\n\n");
        md.Append(table).Append('\n');
        md.Append("![accuracy against training-set size](").Append(PlotFile).Append(")\n\n");
        if (info.ConstantAnswer is { } constant)
            md.Append(I($"Always answering the most frequent training label (\"{constant.Answer}\") scores {constant.Accuracy * 100:F1}%.\n\n"));
        if (info.TeacherAccuracy is { } ta)
            md.Append(I($"Teacher accuracy on the training set: {ta * 100:F1}%"))
              .Append(info.TeacherEvalAccuracy is { } te ? I($"; on the {split} questions: {te * 100:F1}%") : "")
              .Append(info.TeacherNote is null ? "" : $" ({info.TeacherNote})").Append(".\n\n");
        if (paired.Count > 0)
        {
            md.Append("## How sure we are\n\n");
            md.Append("On each seed both methods train on the same subset of the data, in the same order, from the same initial weights, " +
                      "so the difference between them on that seed is not luck of the draw. Per share of the data: the mean of the " +
                      "per-seed differences in accuracy points, its 95% confidence interval (Student t over seeds: an interval above 0 " +
                      "means the gain is larger than the seed-to-seed noise), and on how many seeds step-by-step won, tied or lost");
            md.Append(evalCount > 0 ? I($"; one {split} question is {100.0 / evalCount:0.###} point.\n\n") : ".\n\n");
            md.Append(PairedTable(paired, info.TrainSize)).Append('\n');
        }
        md.Append("## Setup\n\n").Append(info.Setup.TrimEnd()).Append("\n\n");
        md.Append("## Timings\n\n| stage | seconds |\n| --- | ---: |\n");
        foreach (var (k, v) in info.TimingsSeconds) md.Append(CultureInfo.InvariantCulture, $"| {k} | {v:F1} |\n");
        md.Append("\n## Runs\n\n| method | labels | α | student | fraction | seed | ").Append(split)
          .Append(" accuracy | best dev accuracy | training s |\n| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n");
        foreach (var r in results.OrderBy(r => r.Cell.Model, StringComparer.Ordinal).ThenBy(r => r.Cell.Method.Name, StringComparer.Ordinal)
                                 .ThenBy(r => r.Cell.Fraction).ThenBy(r => r.Cell.Seed))
            md.Append(CultureInfo.InvariantCulture,
                $"| {r.Cell.Method.Method.Name()} | {r.Cell.Method.Labels.Name()} | " +
                    $"{(r.Cell.Method.Method == Method.StepByStep ? r.Cell.Alpha.ToString("0.###", CultureInfo.InvariantCulture) : "")} | " +
                        $"{r.Cell.Model ?? "(grid's)"} | {r.Cell.Fraction:0.###} | {r.Cell.Seed} | {r.EvalAccuracy * 100:F1} | " +
                            $"{(r.BestDevAccuracy is { } d ? (d * 100).ToString("F1", CultureInfo.InvariantCulture) : "")} | {r.TrainSeconds:F0} |\n");
        FileOps.WriteAllText(Path.Combine(outDir, MarkdownFile), md.ToString());
        return table;
    }

    static void Plot(string path, ReportInfo info, IReadOnlyList<Point> points, string split)
    {
        var plt = new ScottPlot.Plot();
        foreach (var method in points.Select(p => p.Method).Distinct())
        {
            var ps = points.Where(p => p.Method == method).OrderBy(p => p.Fraction).ToArray();
            var xs = ps.Select(p => Math.Ceiling(p.Fraction * info.TrainSize)).ToArray();
            var ys = ps.Select(p => p.Mean * 100).ToArray();
            var line = plt.Add.Scatter(xs, ys);
            line.LegendText = method;
            line.MarkerSize = 8;
            line.LineWidth = 2;
            if (ps.Any(p => p.Seeds > 1))
            {
                var bars = plt.Add.ErrorBar(xs, ys, ps.Select(p => p.Std * 100).ToArray());
                bars.Color = line.Color;
            }
        }
        plt.Title(info.Title);
        plt.XLabel("training examples");
        plt.YLabel($"{split} accuracy (%)");
        plt.ShowLegend(ScottPlot.Edge.Bottom); // outside the data: a legend inside hid the larger student's lone point
        FileOps.Write(path, s => s.Write(plt.GetImageBytes(PlotWidth, PlotHeight, ScottPlot.ImageFormat.Png)));
    }
}
