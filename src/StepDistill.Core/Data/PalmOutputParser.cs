using System.Text.RegularExpressions;

namespace StepDistill.Data;

/// <summary>
/// Turns a raw PaLM continuation into (rationale, label) exactly as the official <c>data_utils.py</c> does
/// (shared/datasets/README.md section 6): the same case-sensitive markers, trimming and fallbacks, including
/// the quirky ones, so that label accuracies match the published figures. Whitespace trimming follows Python's
/// <c>str.strip</c> (which also treats U+001C..U+001F as whitespace).
/// </summary>
internal static partial class PalmOutputParser
{
    /// <summary>Parses one output. Returns null only for a CQA output without exactly one "So the answer is",
    /// on which the official loader crashes; the caller reports it as an input error.</summary>
    public static (string Rationale, string Label)? Parse(TaskKind task, string output) => task switch
    {
        TaskKind.Svamp => ParseSvamp(output),
        TaskKind.Cqa => ParseCqa(output),
        TaskKind.Anli => ParseAnli(output),
        TaskKind.Esnli => ParseEsnli(output),
        _ => throw new ArgumentOutOfRangeException(nameof(task), task, "no PaLM output format for this task"),
    };

    internal static (string, string) ParseSvamp(string output)
    {
        var text = RStrip(Before(output, "Q:"));
        var parts = text.Split("The answer is");
        if (parts.Length != 2) return (" ", " ");
        // Python re.search(r'\(.*\)'): the first '(' with a ')' later on its line, through that line's last ')'.
        var m = SvampLabelRegex().Match(parts[1]);
        return (RStrip(parts[0]), m.Success ? m.Value : " ");
    }

    internal static (string, string)? ParseCqa(string output)
    {
        var text = RStrip(Before(output, "Q:"));
        var parts = text.Split("So the answer is");
        if (parts.Length != 2) return null;
        // Python re.split(r'\(.\)', label)[1]: the text after the first one-character marker, up to the next.
        var pieces = CqaMarkerRegex().Split(parts[1]);
        var label = " ";
        if (pieces.Length >= 2)
        {
            var l = Strip(pieces[1]);
            if (l.Length > 0) label = l[^1] == '.' ? l[..^1] : l;
        }
        return (RStrip(parts[0]), label);
    }

    internal static (string, string) ParseAnli(string output)
    {
        var text = RStrip(Before(output, "Premise:"));
        var parts = text.Split("So the answer is");
        if (parts.Length != 2) return ("", "");
        var label = LStrip(parts[1]);
        // The official code drops the last character, meant to be the final period.
        return (RStrip(parts[0]), label.Length > 0 ? label[..^1] : label);
    }

    internal static (string, string) ParseEsnli(string output)
    {
        var rationale = RStrip(Before(output, "Answer:"));
        var parts = output.Split("Answer: ");
        var label = parts.Length >= 2 ? RStrip(Before(parts[1], "Premise")) : " ";
        return (rationale, label);
    }

    static string Before(string s, string marker)
    {
        var i = s.IndexOf(marker, StringComparison.Ordinal);
        return i < 0 ? s : s[..i];
    }

    static bool IsPySpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    static string RStrip(string s)
    {
        var end = s.Length;
        while (end > 0 && IsPySpace(s[end - 1])) end--;
        return s[..end];
    }

    static string LStrip(string s)
    {
        var start = 0;
        while (start < s.Length && IsPySpace(s[start])) start++;
        return s[start..];
    }

    static string Strip(string s) => LStrip(RStrip(s));

    // '.' excludes '\n' in both Python and .NET regexes, so these match the official patterns.
    [GeneratedRegex(@"\(.*\)", RegexOptions.CultureInvariant)]
    private static partial Regex SvampLabelRegex();

    [GeneratedRegex(@"\(.\)", RegexOptions.CultureInvariant)]
    private static partial Regex CqaMarkerRegex();
}
