using System.Text.RegularExpressions;

namespace StepDistill.Student.Hub;

/// <summary>A Hub model id with an optional revision: <c>org/name</c>, <c>name</c>, <c>org/name@revision</c>.</summary>
internal sealed partial record ModelId(string RepoId, string Revision)
{
    internal const string DefaultRevision = "main";

    /// <summary>Folder name of this repository in the cache, as huggingface_hub names it.</summary>
    internal string CacheFolderName => "models--" + RepoId.Replace("/", "--", StringComparison.Ordinal);

    /// <summary>True when the revision is a full commit hash (then no ref is needed to find the snapshot).</summary>
    internal bool RevisionIsCommit => IsCommitHash(Revision);

    internal static bool IsCommitHash(string s) => CommitRegex().IsMatch(s);

    public override string ToString() => Revision == DefaultRevision ? RepoId : RepoId + "@" + Revision;

    /// <summary>Parses <paramref name="text"/>, or returns null with the reason it is not a model id.</summary>
    internal static ModelId? TryParse(string text, out string? why)
    {
        why = null;
        var at = text.IndexOf('@');
        var repo = at < 0 ? text : text[..at];
        var revision = at < 0 ? DefaultRevision : text[(at + 1)..];
        if (at >= 0 && revision.Length == 0) { why = "nothing after '@' (expected a branch, tag or commit)"; return null; }
        if (revision.Contains("..", StringComparison.Ordinal) || revision.StartsWith('/') || revision.EndsWith('/') ||
            revision.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c == '\\'))
        { why = $"'{revision}' is not a valid revision"; return null; }
        // The Hub's own rules (huggingface_hub validate_repo_id): at most one '/', word characters, '-', '.',
        // no '--' or '..', no leading or trailing '-' or '.', at most 96 characters.
        if (repo.Length is 0 or > 96 || !RepoRegex().IsMatch(repo) || repo.Contains("--", StringComparison.Ordinal) ||
            repo.Contains("..", StringComparison.Ordinal))
        { why = $"'{repo}' is not a Hub model id (expected org/name or name)"; return null; }
        return new ModelId(repo, revision);
    }

    [GeneratedRegex(@"^([A-Za-z0-9_]([A-Za-z0-9_.\-]*[A-Za-z0-9_])?/)?[A-Za-z0-9_]([A-Za-z0-9_.\-]*[A-Za-z0-9_])?$")]
    private static partial Regex RepoRegex();

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitRegex();
}
