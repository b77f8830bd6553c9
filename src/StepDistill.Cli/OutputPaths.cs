namespace StepDistill.Cli;

/// <summary>
/// Checks an output path before any work is done, so that a run fails at once with the option's name rather than
/// after hours, or worse, writes over its own input.
/// </summary>
internal static class OutputPaths
{
    /// <summary>
    /// <paramref name="path"/> (the value of <paramref name="option"/>) must not be any of <paramref name="inputs"/>
    /// (value, option), must not be a folder (<paramref name="isFolder"/> false) or a file (true), and must have a
    /// folder to live in: missing parent folders are created, a parent that is a file is an error.
    /// </summary>
    public static void Check(string path, string option, bool isFolder, params (string? Path, string Option)[] inputs)
    {
        var full = Path.GetFullPath(path);
        foreach (var (input, inputOption) in inputs)
        {
            if (string.IsNullOrWhiteSpace(input)) continue;
            var inputFull = Path.GetFullPath(input);
            if (SameEntry(full, inputFull))
                throw new StepDistillException($"{option} {path} is also the input ({inputOption} {input}): writing it would destroy the input; choose " +
                    $"another {(isFolder ? "folder" : "file")}");
        }
        if (!isFolder && Directory.Exists(full))
            throw new StepDistillException($"{option} {path} is a folder; give a file name");
        if (isFolder && File.Exists(full))
            throw new StepDistillException($"{option} {path} is a file; give a folder");
        // The nearest existing ancestor must be a folder; create the missing ones below it.
        var parent = isFolder ? full : Path.GetDirectoryName(full);
        for (var p = parent; p is not null; p = Path.GetDirectoryName(p))
        {
            if (Directory.Exists(p)) break;
            if (File.Exists(p))
                throw new StepDistillException($"{option} {path}: {p} is a file, not a folder");
        }
        if (parent is not null && !isFolder) Directory.CreateDirectory(parent);
    }

    static bool SameEntry(string a, string b)
    {
        if (string.Equals(a, b, StringComparison.Ordinal)) return true;
        // The same file under another name (a symbolic link): compare the resolved targets.
        return File.Exists(a) && File.Exists(b) && string.Equals(Resolve(a), Resolve(b), StringComparison.Ordinal);
    }

    static string Resolve(string path) =>
        new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
}
