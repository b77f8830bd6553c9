using System.Globalization;
using StepDistill.Training;

namespace StepDistill.Experiments.Runner;

/// <summary>A training method with its label source, e.g. <c>standard:gold</c> or <c>step-by-step:teacher</c>.</summary>
internal sealed record MethodSpec(Method Method, LabelSource Labels)
{
    public string Name => $"{Method.Name()}:{Labels.Name()}";

    /// <summary>Parses <c>method[:labels]</c>; labels default to gold for standard and teacher for step-by-step.</summary>
    public static MethodSpec Parse(string s)
    {
        var parts = s.Split(':', 2);
        var method = MethodNames.ParseMethod(parts[0]);
        var labels = parts.Length > 1 ? MethodNames.ParseLabels(parts[1]) : method == Method.Standard ? LabelSource.Gold : LabelSource.Teacher;
        return new MethodSpec(method, labels);
    }
}

/// <summary>
/// One cell of the grid: a method at a data fraction, a seed and an α; <see cref="Model"/> names a student other than
/// the grid's (null: the runner's base options decide).
/// </summary>
internal sealed record Cell(MethodSpec Method, double Fraction, int Seed, double Alpha, string? Model = null)
{
    /// <summary>The cell's folder name, stable across runs so a re-run finds finished cells.</summary>
    public string Key => string.Create(CultureInfo.InvariantCulture,
        $"{Method.Method.Name()}-{Method.Labels.Name()}-f{Fraction:0.####}-s{Seed}{(Method.Method == Training.Method.StepByStep ? $"-a{Alpha:0.###}" : "")}" +
        $"{(Model is null ? "" : "-m" + Path.GetFileName(Model.TrimEnd('/', '\\')))}");
}

/// <summary>Methods × fractions × seeds (× α for step-by-step), plus <see cref="Extra"/> cells outside the product.</summary>
internal sealed record ExperimentGrid(IReadOnlyList<MethodSpec> Methods, IReadOnlyList<double> Fractions, IReadOnlyList<int> Seeds,
    IReadOnlyList<double> Alphas)
{
    /// <summary>Cells run besides the product, e.g. a larger student at one fraction; they start first (they take longest).</summary>
    public IReadOnlyList<Cell> Extra { get; init; } = [];

    public IEnumerable<Cell> Cells()
    {
        foreach (var cell in Extra) yield return cell;
        // Seeds outermost so that a partial run already has complete curves for the first seed; within a seed the
        // step-by-step cells (about 3x the cost of a standard one) first, so that short cells fill the end of a parallel run.
        foreach (var seed in Seeds)
            foreach (var m in Methods.OrderBy(m => m.Method == Method.StepByStep ? 0 : 1))
                foreach (var fraction in Fractions)
                    foreach (var alpha in m.Method == Method.StepByStep ? Alphas : Alphas.Take(1))
                        yield return new Cell(m, fraction, seed, alpha);
    }

    public static IReadOnlyList<double> ParseDoubles(string s, string option) =>
        s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
         .Select(x => double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new StepDistillException($"{option} " +
             $"{s}: '{x}' is not a number"))
         .ToList();

    public static IReadOnlyList<int> ParseInts(string s, string option) =>
        s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
         .Select(x => int.TryParse(x, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw new StepDistillException($"{option} " +
             $"{s}: '{x}' is not an integer"))
         .ToList();
}
