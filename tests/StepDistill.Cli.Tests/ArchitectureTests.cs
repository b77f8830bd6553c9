using System.Text.RegularExpressions;

namespace StepDistill.Cli.Tests;

/// <summary>Rules of the codebase that a reader cannot see from one file: UI and CLI spellings live in the CLI only.</summary>
public sealed partial class ArchitectureTests
{
    static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "StepDistill.slnx"))) return d.FullName;
        throw new InvalidOperationException("StepDistill.slnx not found above " + AppContext.BaseDirectory);
    }

    static IEnumerable<string> LibrarySources(string root) =>
        Directory.EnumerateFiles(Path.Combine(root, "src"), "*.cs", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith("src/StepDistill.Cli/", StringComparison.Ordinal) && !f.Contains("/obj/") && !f.Contains("/bin/"));

    // A string literal (plain, verbatim, interpolated or raw) holding "--" and a letter: a CLI flag.
    [GeneratedRegex("\"(?:[^\"\\\\\\n]|\\\\.)*?--[A-Za-z]")]
    private static partial Regex FlagInString();

    [Fact]
    public void NoLibrarySource_SpellsACliFlag()
    {
        var root = RepoRoot();
        var found = new List<string>();
        foreach (var file in LibrarySources(root))
        {
            var lines = File.ReadAllLines(Path.Combine(root, file));
            for (var i = 0; i < lines.Length; i++)
                if (!lines[i].TrimStart().StartsWith("//", StringComparison.Ordinal) && FlagInString().IsMatch(lines[i]))
                    found.Add($"{file}:{i + 1}: {lines[i].Trim()}");
        }
        Assert.True(found.Count == 0, "library code spells CLI flags (report property names; the CLI translates):\n" + string.Join("\n", found));
        Assert.NotEmpty(LibrarySources(root));
    }

    [Fact]
    public void OnlyTheCli_ReferencesSpectreConsole()
    {
        var root = RepoRoot();
        var projects = Directory.EnumerateFiles(root, "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains("/tests/", StringComparison.Ordinal) && !p.Contains("/obj/", StringComparison.Ordinal)).ToList();
        Assert.Contains(projects, p => p.EndsWith("StepDistill.Cli.csproj", StringComparison.Ordinal));
        var offenders = projects.Where(p => !p.EndsWith("StepDistill.Cli.csproj", StringComparison.Ordinal)
            && File.ReadAllText(p).Contains("Include=\"Spectre.Console", StringComparison.Ordinal));
        Assert.Empty(offenders);
    }

    [Fact]
    public async Task LibraryErrors_ReachTheUser_WithTheCliFlag()
    {
        var (rc, _, stderr) = await CliHarness.Run("annotate", "--teacher", "gguf:/nonexistent/model.gguf", "--prompt", "svamp",
                                                   "--input", "/nonexistent/in.jsonl", "--output", Path.Combine(Path.GetTempPath(), "never-written.jsonl"));
        Assert.Equal(1, rc);
        Assert.Contains("error: --teacher gguf:/nonexistent/model.gguf: file not found", stderr);
    }
}
