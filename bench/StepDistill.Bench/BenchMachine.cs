using System.Diagnostics;
using StepDistill.Inference;
using TorchSharp;

/// <summary>What every suite prints about the machine, and the student it measures.</summary>
static class BenchMachine
{
    /// <summary>
    /// <paramref name="model"/> if it is a folder; otherwise a from-scratch student of that preset size saved to a temporary
    /// folder (<paramref name="temp"/>, for the caller to delete): random weights, since the speed is what matters.
    /// </summary>
    public static string StudentFolder(string model, out string? temp)
    {
        temp = null;
        if (Directory.Exists(model)) return model;
        temp = Directory.CreateTempSubdirectory("stepdistill-bench-").FullName;
        using var s = T5Student.Create(model, "byte", seed: 0, torch.CPU);
        s.Save(temp, new StudentInfo("standard", "gold", ""));
        return temp;
    }

    public static double Percentile(List<double> xs, double p)
    {
        if (xs.Count == 0) return double.NaN;
        var s = xs.Order().ToList();
        return s[Math.Clamp((int)Math.Ceiling(p * s.Count) - 1, 0, s.Count - 1)];
    }

    public static double MatmulGflops()
    {
        using var a = torch.randn(1024, 1024);
        using var b = torch.randn(1024, 1024);
        var times = new List<double>();
        for (var i = 0; i < 12; i++)
        {
            var sw = Stopwatch.StartNew();
            using (torch.matmul(a, b)) { }
            if (i >= 2) times.Add(sw.Elapsed.TotalSeconds);
        }
        return 2.0 * 1024 * 1024 * 1024 / Percentile(times, 0.5) / 1e9;
    }

    public static string CpuModel() =>
        File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?" : "?";

    public static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";
}
