using StepDistill.Experiments.Demo;
using StepDistill.Experiments.Runner;

namespace StepDistill.Experiments.Tests;

public sealed class DemoRunnerTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("demo-runner-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public async Task Annotation_output_is_put_back_in_input_order()
    {
        var inputs = Path.Combine(dir, "inputs.jsonl");
        var output = Path.Combine(dir, "output.jsonl");
        await File.WriteAllTextAsync(inputs, "{\"id\":\"a\",\"input\":\"1\"}\n{\"id\":\"b\",\"input\":\"2\"}\n{\"id\":\"c\",\"input\":\"3\"}\n");
        // As a concurrent annotator writes it: in the order the calls finished, plus a record of an id the input lacks.
        await File.WriteAllTextAsync(output, "{\"id\":\"c\",\"x\":3}\n{\"id\":\"z\",\"x\":0}\n\n{\"id\":\"a\",\"x\":1}\n{\"id\":\"b\",\"x\":2}\n");
        await DemoRunner.InInputOrderAsync(inputs, output, default);
        Assert.Equal(["{\"id\":\"a\",\"x\":1}", "{\"id\":\"b\",\"x\":2}", "{\"id\":\"c\",\"x\":3}", "{\"id\":\"z\",\"x\":0}"],
            File.ReadAllLines(output));

        // Already in order: the file is left alone.
        var stamp = File.GetLastWriteTimeUtc(output);
        File.SetLastWriteTimeUtc(output, stamp.AddMinutes(-5));
        await DemoRunner.InInputOrderAsync(inputs, output, default);
        Assert.Equal(stamp.AddMinutes(-5), File.GetLastWriteTimeUtc(output));
    }

    static Report.Point P(string method, double fraction, double mean) => new(method, fraction, mean, 0.01, 3);

    [Fact]
    public void Headlines_state_the_three_claims_from_the_numbers()
    {
        var points = new[]
        {
            P("standard fine-tuning", 0.25, 0.80), P("standard fine-tuning", 0.5, 0.85), P("standard fine-tuning", 1.0, 0.90),
            P("step-by-step (gold, α=0.7)", 0.25, 0.89), P("step-by-step (gold, α=0.7)", 0.5, 0.93), P("step-by-step (gold, α=0.7)", 1.0, 0.97),
            P("standard fine-tuning, mini student", 1.0, 0.70),
        };
        var lines = DemoHeadlines.Write(new HeadlineInputs(points, 1000, 0.7, "tiny", "mini", 5.7, 0.95, SimulatedTeacher: true));
        Assert.Equal(3, lines.Count);
        Assert.StartsWith("Less data: step-by-step with 50% (500 examples)", lines[0]); // 25% (89.0) is below 90.0
        Assert.Contains("(90.0%)", lines[0]);
        Assert.Contains("97.0% on all the data, above standard fine-tuning of the 5.7× larger `mini` student", lines[1]);
        Assert.Contains("(70.0%)", lines[1]);
        Assert.Contains("97.0% of the test questions right, the simulated teacher 95.0%", lines[2]);

        // Claims the numbers do not support are stated as such.
        var weak = points.Select(p => p.Method == "step-by-step (gold, α=0.7)" ? p with { Mean = p.Mean - 0.3 } : p).ToList();
        var w = DemoHeadlines.Write(new HeadlineInputs(weak, 1000, 0.7, "tiny", "mini", 5.7, 0.95, SimulatedTeacher: false));
        Assert.StartsWith("Less data: not shown", w[0]);
        Assert.Contains("67.0% on all the data, below standard fine-tuning", w[1]);
        Assert.Contains("does not beat its teacher", w[2]);
        Assert.Contains("the teacher 95.0%", w[2]);
    }
}
