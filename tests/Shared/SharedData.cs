namespace StepDistill.Tests;

/// <summary>
/// Finds the read-only <c>shared/</c> folder (data and Hugging Face fixtures) beside the repository root,
/// or at <c>$STEPDISTILL_SHARED</c>. Where it is absent a test is skipped with a message naming what is
/// missing, except under <c>CI=true</c>, where a missing fixture fails the run.
/// </summary>
public static class SharedData
{
    public static string? Root { get; } = FindRoot();

    static string? FindRoot()
    {
        var env = Environment.GetEnvironmentVariable("STEPDISTILL_SHARED");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? Path.GetFullPath(env) : null;
        // Walk up from the test binary to the repository root (the folder holding Directory.Build.props).
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Directory.Build.props")))
            {
                var candidate = Path.Combine(dir.FullName, "..", "shared");
                return Directory.Exists(candidate) ? Path.GetFullPath(candidate) : null;
            }
        }
        return null;
    }

    static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Returns the full path of <paramref name="relative"/> under shared/, or skips (fails under CI).</summary>
    public static string Require(string relative)
    {
        var path = Root is null ? null : Path.Combine(Root, relative);
        if (path != null && (File.Exists(path) || Directory.Exists(path))) return path;
        var message = Root is null
            ? $"shared data folder not found (../shared beside the repository or $STEPDISTILL_SHARED); needed: {relative}"
            : $"missing shared fixture: {Path.Combine(Root, relative)}";
        if (IsCi) throw new InvalidOperationException("CI=true and " + message);
        Skip.If(true, message);
        return path!; // unreachable
    }
}
