using System.Globalization;
using System.Text.RegularExpressions;
using StepDistill.Evaluation;
using StepDistill.Teacher.Prompts;

namespace StepDistill.Teacher.Parsing;

/// <summary>The outcome of parsing one completion: a rationale and an answer, or the reason it failed.</summary>
public sealed record ParsedCompletion(bool Ok, string? Rationale, string? Answer, string? Reason)
{
    /// <summary>A completion that yielded a rationale and an answer.</summary>
    public static ParsedCompletion Success(string rationale, string answer) => new(true, rationale, answer, null);
    /// <summary>A completion with no usable answer; <paramref name="reason"/> says why.</summary>
    public static ParsedCompletion Failure(string reason) => new(false, null, null, reason);
}

/// <summary>
/// Task-specific answer rules. The shared part (cutting at stop markers, finding the last answer phrase,
/// splitting off the rationale) lives in <see cref="AnswerParsers.Parse"/>; a parser only normalises answers.
/// </summary>
public interface IAnswerParser
{
    /// <summary>The canonical form of an answer span, or null with a reason when it is not a valid answer.</summary>
    string? Normalize(string answerSpan, string input, out string? reason);

    /// <summary>The key answers are grouped by in a self-consistency vote.</summary>
    string VoteKey(string normalizedAnswer) => normalizedAnswer.ToLowerInvariant();

    /// <summary>Whether a normalised teacher answer agrees with a gold label (which may use another notation).</summary>
    bool Matches(string normalizedAnswer, string gold, string input)
    {
        var g = Normalize(gold, input, out _);
        return g != null && string.Equals(VoteKey(g), VoteKey(normalizedAnswer), StringComparison.Ordinal);
    }
}

/// <summary>The answer parsers by task name (fixed: a new task parser is added here, see ARCHITECTURE.md).</summary>
public static partial class AnswerParsers
{
    static readonly IReadOnlyDictionary<string, IAnswerParser> Registry = new Dictionary<string, IAnswerParser>(StringComparer.OrdinalIgnoreCase)
    {
        ["arithmetic"] = new ArithmeticParser(),
        ["choice"] = new ChoiceParser(),
        ["nli"] = new NliParser(),
        ["text"] = new TextParser(),
    };

    /// <summary>The task names that have a parser.</summary>
    public static IEnumerable<string> Names => Registry.Keys;
    /// <summary>Whether <paramref name="task"/> has a parser.</summary>
    public static bool Exists(string task) => Registry.ContainsKey(task);

    /// <summary>The parser of <paramref name="task"/>; an unknown task is an error naming the known ones.</summary>
    public static IAnswerParser Get(string task) =>
        Registry.TryGetValue(task, out var p) ? p : throw new StepDistillException($"unknown task '{task}' (known: {string.Join(", ", Registry.Keys)})");

    /// <summary>Splits a completion into rationale and answer under the prompt's conventions.</summary>
    public static ParsedCompletion Parse(PromptTemplate prompt, IAnswerParser parser, string completion, string input)
    {
        var text = prompt.CleanCompletion(completion);
        if (text.Length == 0) return ParsedCompletion.Failure("empty completion");
        // The last occurrence wins: rationales sometimes quote the phrase before concluding.
        var phrase = PhraseRegexes.GetOrAdd(prompt.AnswerPhrase, p => new Regex(@"(?:^|\b|\s)" + PhrasePattern(p) + @"\s*:?\s*",
            RegexOptions.IgnoreCase | RegexOptions.RightToLeft));
        var m = phrase.Match(text);
        if (!m.Success) return ParsedCompletion.Failure($"no answer phrase ('{prompt.AnswerPhrase} ...') in the completion");
        var rationale = text[..m.Index].Trim();
        var span = text[(m.Index + m.Length)..];
        var nl = span.IndexOf('\n');
        if (nl >= 0) span = span[..nl];
        span = span.Trim().TrimEnd('.').Trim();
        if (span.Length == 0) return ParsedCompletion.Failure("nothing after the answer phrase");
        if (rationale.Length == 0) return ParsedCompletion.Failure("empty rationale before the answer phrase");
        var answer = parser.Normalize(span, input, out var reason);
        return answer is null ? ParsedCompletion.Failure(reason ?? $"unrecognised answer '{span}'") : ParsedCompletion.Success(rationale, answer);
    }

    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Regex> PhraseRegexes = new();

    /// <summary>"So the answer is" also matches "the answer is" (PaLM often drops the "So").</summary>
    static string PhrasePattern(string phrase)
    {
        var words = phrase.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(Regex.Escape).ToList();
        if (words.Count > 1 && words[0].Equals("so", StringComparison.OrdinalIgnoreCase))
            return @"(?:so,?\s+)?" + string.Join(@"\s+", words.Skip(1));
        return string.Join(@"\s+", words);
    }

    [GeneratedRegex(@"\s+")] internal static partial Regex Spaces();
}

/// <summary>Free-text answers compared case-insensitively with collapsed whitespace.</summary>
internal sealed class TextParser : IAnswerParser
{
    public string? Normalize(string answerSpan, string input, out string? reason)
    {
        reason = null;
        var s = AnswerParsers.Spaces().Replace(answerSpan.Trim().Trim('"', '\''), " ");
        if (s.Length == 0) { reason = "empty answer"; return null; }
        return s;
    }
}

/// <summary>
/// Natural language inference with three labels. Accepts the label words, their verbs, yes/no/"it is not
/// possible to tell", and the numeric convention 0/1/2 = entailment/neutral/contradiction for gold labels.
/// </summary>
internal sealed class NliParser : IAnswerParser
{
    public string? Normalize(string answerSpan, string input, out string? reason)
    {
        reason = null;
        var s = answerSpan.Trim().Trim('"', '\'', '(', ')').Trim().ToLowerInvariant();
        s = AnswerParsers.Spaces().Replace(s, " ");
        string? label = s switch
        {
            "entailment" or "entails" or "entailed" or "yes" or "0" => "entailment",
            "neutral" or "it is not possible to tell" or "not possible to tell" or "it's not possible to tell" or "unknown" or "maybe" or "1" => "neutral",
            "contradiction" or "contradicts" or "contradicted" or "no" or "2" => "contradiction",
            _ => null,
        };
        if (label is null)
        {
            // "entailment because ..." or "neutral, since ...": take the first word when it is a label.
            var first = s.Split([' ', ',', ';', ':'], 2)[0];
            label = first switch { "entailment" => "entailment", "neutral" => "neutral", "contradiction" => "contradiction", _ => null };
        }
        if (label is null) reason = $"'{answerSpan}' is not an NLI label (entailment, neutral, contradiction)";
        return label;
    }
}

/// <summary>
/// Multiple choice. The input lists options as "(a) text" lines; answers may be "(b) text", "(b)", "b" or
/// the option's text. The canonical answer is the option text (gold labels are option texts).
/// </summary>
internal sealed partial class ChoiceParser : IAnswerParser
{
    [GeneratedRegex(@"^\s*\(([a-zA-Z])\)\s*(.+?)\s*$", RegexOptions.Multiline)] private static partial Regex OptionLine();
    [GeneratedRegex(@"^\(?([a-zA-Z])[\).:]?(?:\s+(.*))?$")] private static partial Regex LetterAnswer();

    internal static List<(char Letter, string Text)> Options(string input) =>
        OptionLine().Matches(input).Select(m => (char.ToLowerInvariant(m.Groups[1].Value[0]), m.Groups[2].Value)).ToList();

    public string? Normalize(string answerSpan, string input, out string? reason)
    {
        reason = null;
        var span = AnswerParsers.Spaces().Replace(answerSpan.Trim().Trim('"', '\''), " ");
        var options = Options(input);
        if (options.Count == 0)
        {
            // No option list in the input: keep the text without a leading letter.
            var lm = LetterAnswer().Match(span);
            var text = lm.Success && lm.Groups[2].Success && lm.Groups[2].Value.Length > 0 ? lm.Groups[2].Value : span;
            if (text.Length == 0) { reason = "empty answer"; return null; }
            return text;
        }
        var exact = options.FirstOrDefault(o => string.Equals(o.Text, span, StringComparison.OrdinalIgnoreCase));
        if (exact.Text != null) return exact.Text;
        var m = LetterAnswer().Match(span);
        if (m.Success && (span.StartsWith('(') || !m.Groups[2].Success || m.Groups[2].Value.Length == 0))
        {
            var letter = char.ToLowerInvariant(m.Groups[1].Value[0]);
            var opt = options.FirstOrDefault(o => o.Letter == letter);
            if (opt.Text != null) return opt.Text;
            reason = $"choice ({letter}) is not one of the options ({string.Join(", ", options.Select(o => o.Letter))})";
            return null;
        }
        reason = $"'{answerSpan}' matches none of the options";
        return null;
    }
}

/// <summary>
/// Arithmetic word problems. Answers are equations like "(84 / 2)" or numbers; "84 / 2 = 42" keeps the
/// equation. The canonical form is SVAMP's: fully parenthesised, decimals, spaces around tokens. Values are computed by
/// the equation metric's own evaluator (<see cref="EquationEvaluator"/>), and agreement is its rule (exactly equal
/// values), so the teacher's gold agreement and the metric never disagree; "( 84.0 / 2.0 )" agrees with "42".
/// </summary>
internal sealed partial class ArithmeticParser : IAnswerParser
{
    public string? Normalize(string answerSpan, string input, out string? reason)
    {
        reason = null;
        var s = answerSpan.Replace("$", "").Replace("×", "*").Replace("÷", "/").Trim();
        var eq = s.IndexOf('=');
        if (eq >= 0)
        {
            var left = s[..eq]; var right = s[(eq + 1)..];
            s = left.IndexOfAny(['+', '-', '*', '/']) >= 0 || right.Trim().Length == 0 ? left : right;
        }
        // Drop trailing units ("42 apples"): keep the longest leading expression-looking part.
        var end = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (char.IsDigit(c) || c is '.' or ',' or '+' or '-' or '*' or '/' or '(' or ')' or ' ') end = i + 1; else break;
        }
        var expr = ThousandsSeparator().Replace(s[..end].Trim(), "");
        if (expr.Length == 0) { reason = $"'{answerSpan}' is not a number or an equation"; return null; }
        if (EquationEvaluator.TryCanonicalize(expr, out var canonical, out _)) return canonical;
        reason = $"'{answerSpan}' is not a valid equation";
        return null;
    }

    public string VoteKey(string normalizedAnswer) =>
        EquationEvaluator.TryEvaluate(normalizedAnswer, out var v) ? Math.Round(v, 6).ToString("R", CultureInfo.InvariantCulture) : normalizedAnswer;

    public bool Matches(string normalizedAnswer, string gold, string input) =>
        Normalize(gold, input, out _) is string g && Metrics.IsCorrect(MetricKind.Equation, normalizedAnswer, g);

    // "1,250" → "1250": a comma followed by exactly three digits inside a number.
    [GeneratedRegex(@"(?<=\d),(?=\d{3}(?!\d))")] private static partial Regex ThousandsSeparator();
}
