using System.Text;

namespace StepDistill.Experiments.DemoTask;

/// <summary>One worked example of the few-shot prompt.</summary>
internal sealed record LegsExemplar(string Input, string Rationale, string Answer);

/// <summary>
/// The built-in few-shot chain-of-thought prompt for <see cref="LegsTask"/>, in the teacher pipeline's prompt-file
/// format (header <c>key: value</c> lines, then <c>[instructions]</c>, and <c>[input]</c> / <c>[rationale]</c> /
/// <c>[answer]</c> blocks). Answers are plain integers, so the generic <c>text</c> answer parser reads them;
/// a teacher writes "... So the answer is 14.".
/// </summary>
internal static class LegsPrompt
{
    /// <summary>The instruction a teacher gets.</summary>
    public const string Instructions =
        "Count the legs. For each animal, say how many legs it has, add the numbers up step by step, " +
        "then finish with \"So the answer is\" followed by the total as a number.";

    /// <summary>
    /// What a real LLM cannot know: the invented creatures and their legs, given with the instructions
    /// (the simulated teacher reads them from <see cref="LegsTask.Animals"/>).
    /// </summary>
    public static string Bestiary() =>
        "Some animals are invented; their legs are: " +
        string.Join(", ", LegsTask.Invented.Select(n => $"{n} {LegsTask.Animals[n].ToString(System.Globalization.CultureInfo.InvariantCulture)}")) + ".";

    /// <summary>The worked examples (fixed animals, each phrasing once, so a real LLM sees the variety too).</summary>
    public static IReadOnlyList<LegsExemplar> Exemplars { get; } = Build();

    static LegsExemplar[] Build()
    {
        string[][] sets = [["spider", "cat", "hen"], ["ant", "snake", "dog", "owl"], ["crab", "cow"], ["bee", "duck", "fish"]];
        return [.. sets.Select((animals, i) =>
        {
            var legs = animals.Select(a => LegsTask.Animals[a]).ToArray();
            var total = legs.Sum();
            return new LegsExemplar(LegsTask.FormatQuestion(animals), LegsRationale.Write(animals, legs, total, i),
                total.ToString(System.Globalization.CultureInfo.InvariantCulture));
        })];
    }

    /// <summary>The prompt file text (save it as <c>legs.prompt</c> for the annotate verb's <c>--prompt</c>).</summary>
    public static string FileText()
    {
        var sb = new StringBuilder();
        sb.Append("# Built-in demo task: total number of legs of a few animals. Answers are integers.\n");
        sb.Append("name: ").Append(LegsTask.Name).Append('\n');
        sb.Append("task: text\n");
        sb.Append("style: chat\n");
        sb.Append("input_prefix: Q:\n");
        sb.Append("output_prefix: A:\n");
        sb.Append("answer_phrase: So the answer is\n");
        sb.Append("stop: \\n\\nQ:\n\n");
        sb.Append("[instructions]\n").Append(Instructions).Append(' ').Append(Bestiary()).Append("\n\n");
        foreach (var e in Exemplars)
        {
            sb.Append("[input]\n").Append(e.Input).Append('\n');
            sb.Append("[rationale]\n").Append(e.Rationale).Append('\n');
            sb.Append("[answer]\n").Append(e.Answer).Append("\n\n");
        }
        return sb.ToString();
    }

    /// <summary>The plain-text (completion-style) rendering for <paramref name="input"/>, as the pipeline renders it.</summary>
    public static string RenderText(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var sb = new StringBuilder();
        sb.Append(Instructions).Append(' ').Append(Bestiary()).Append("\n\n");
        foreach (var e in Exemplars)
            sb.Append("Q: ").Append(e.Input).Append("\nA: ").Append(e.Rationale).Append(" So the answer is ").Append(e.Answer).Append(".\n\n");
        sb.Append("Q: ").Append(input.Trim()).Append("\nA:");
        return sb.ToString();
    }
}
