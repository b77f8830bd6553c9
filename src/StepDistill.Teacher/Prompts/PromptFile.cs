using System.Text;

namespace StepDistill.Teacher.Prompts;

/// <summary>
/// Reads the prompt file format (see docs/teacher.md): <c>key: value</c> header lines, then blocks opened by
/// <c>[instructions]</c>, <c>[input]</c>, <c>[rationale]</c> and <c>[answer]</c> lines. Each <c>[input]</c>
/// starts a new exemplar, which needs a <c>[rationale]</c> and an <c>[answer]</c>.
/// </summary>
public static class PromptFile
{
    /// <summary>Reads a prompt file; errors name the file and line.</summary>
    public static PromptTemplate Load(string path)
    {
        if (!File.Exists(path)) throw new StepDistillException($"prompt file not found: {path}");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses prompt-file text; <paramref name="source"/> names it in errors.</summary>
    public static PromptTemplate Parse(string text, string source)
    {
        string? name = null, task = null;
        var style = PromptStyle.Chat;
        string inputPrefix = "Q:", outputPrefix = "A:", answerPhrase = "So the answer is";
        List<string>? stops = null;
        string instructions = "";
        var exemplars = new List<Exemplar>();

        string? section = null; int sectionLine = 0;
        var block = new StringBuilder();
        string? curInput = null, curRationale = null, curAnswer = null; int exemplarLine = 0;

        void FinishExemplar()
        {
            if (curInput is null) return;
            if (curRationale is null || curAnswer is null)
                throw new StepDistillException($"{source} line {exemplarLine}: the example is missing its " +
                    $"[{(curRationale is null ? "rationale" : "answer")}] block");
            exemplars.Add(new Exemplar(curInput, curRationale, curAnswer));
            curInput = curRationale = curAnswer = null;
        }

        void CloseBlock()
        {
            if (section is null) return;
            var value = block.ToString().Trim('\n', '\r', ' ', '\t');
            block.Clear();
            if (value.Length == 0 && section != "instructions")
                throw new StepDistillException($"{source} line {sectionLine}: the [{section}] block is empty");
            switch (section)
            {
                case "instructions": instructions = value; break;
                case "input": curInput = value; break;
                case "rationale":
                    if (curInput is null) throw new StepDistillException($"{source} line {sectionLine}: [rationale] must follow an [input] block");
                    curRationale = value; break;
                case "answer":
                    if (curInput is null) throw new StepDistillException($"{source} line {sectionLine}: [answer] must follow an [input] block");
                    curAnswer = value; break;
            }
        }

        var lines = text.Replace("\r\n", "\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i]; var lineNo = i + 1;
            var trimmed = line.Trim();
            if (trimmed is "[instructions]" or "[input]" or "[rationale]" or "[answer]")
            {
                CloseBlock();
                section = trimmed[1..^1]; sectionLine = lineNo;
                if (section == "input") { FinishExemplar(); exemplarLine = lineNo; }
                else if (section == "rationale" && curRationale != null || section == "answer" && curAnswer != null)
                    throw new StepDistillException($"{source} line {lineNo}: a second [{section}] block in one example (start a new example with [input])");
                continue;
            }
            if (section != null) { block.Append(line).Append('\n'); continue; }
            // Header area: comments, blank lines and key: value settings.
            if (trimmed.Length == 0 || trimmed.StartsWith('#')) continue;
            var colon = trimmed.IndexOf(':');
            if (colon <= 0) throw new StepDistillException($"{source} line {lineNo}: expected 'key: value' or a [section] line, got '{Short(trimmed)}'");
            var key = trimmed[..colon].Trim().ToLowerInvariant();
            var val = Unescape(trimmed[(colon + 1)..].Trim());
            switch (key)
            {
                case "name": name = val; break;
                case "task": task = val; break;
                case "style":
                    style = val.ToLowerInvariant() switch
                    {
                        "chat" => PromptStyle.Chat,
                        "completion" => PromptStyle.Completion,
                        _ => throw new StepDistillException($"{source} line {lineNo}: style must be 'chat' or 'completion', got '{val}'"),
                    };
                    break;
                case "input_prefix": inputPrefix = val; break;
                case "output_prefix": outputPrefix = val; break;
                case "answer_phrase":
                    if (val.Length == 0) throw new StepDistillException($"{source} line {lineNo}: answer_phrase must not be empty");
                    answerPhrase = val; break;
                case "stop":
                    if (val.Length == 0) throw new StepDistillException($"{source} line {lineNo}: stop must not be empty");
                    (stops ??= []).Add(val); break;
                default:
                    throw new StepDistillException($"{source} line {lineNo}: unknown setting '{key}' (known: name, task, style, input_prefix, " +
                        $"output_prefix, answer_phrase, stop)");
            }
        }
        CloseBlock();
        FinishExemplar();
        if (task is null) throw new StepDistillException($"{source}: missing 'task:' setting (the answer parser: " +
            $"{string.Join(", ", Parsing.AnswerParsers.Names)})");
        if (!Parsing.AnswerParsers.Exists(task)) throw new StepDistillException($"{source}: unknown task '{task}' (known: " +
            $"{string.Join(", ", Parsing.AnswerParsers.Names)})");
        if (exemplars.Count == 0) throw new StepDistillException($"{source}: no examples (add [input], [rationale] and [answer] blocks)");
        if (stops is { Count: > 4 }) throw new StepDistillException($"{source}: at most 4 stop sequences (the OpenAI API limit), got {stops.Count}");
        return new PromptTemplate
        {
            Name = name ?? Path.GetFileNameWithoutExtension(source),
            Task = task,
            Instructions = instructions,
            Exemplars = exemplars,
            Style = style,
            InputPrefix = inputPrefix,
            OutputPrefix = outputPrefix,
            AnswerPhrase = answerPhrase,
            StopSequences = stops ?? (inputPrefix.Length > 0 ? ["\n\n" + inputPrefix] : []),
        };
    }

    static string Short(string s) => s.Length <= 40 ? s : s[..40] + "...";

    /// <summary>Only \n, \t and \\ are escapes, so that stop sequences with newlines fit on one line.</summary>
    static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var sb = new StringBuilder();
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 1 < s.Length)
            {
                var c = s[i + 1];
                if (c == 'n') { sb.Append('\n'); i++; continue; }
                if (c == 't') { sb.Append('\t'); i++; continue; }
                if (c == '\\') { sb.Append('\\'); i++; continue; }
            }
            sb.Append(s[i]);
        }
        return sb.ToString();
    }
}

/// <summary>
/// Built-in prompts (embedded prompt files), looked up by name. Other prompts (e.g. a demo task's) are passed to
/// <see cref="Resolve"/> by the caller: there is no global registry to mutate.
/// </summary>
public static class PromptLibrary
{
    static readonly string[] BuiltInNames = ["svamp", "cqa", "anli", "esnli"];

    /// <summary>The built-in names, then those of <paramref name="extra"/>.</summary>
    public static IEnumerable<string> Names(IReadOnlyDictionary<string, Func<PromptTemplate>>? extra = null) =>
        BuiltInNames.Concat(extra?.Keys ?? []);

    /// <summary>A name in <paramref name="extra"/>, a built-in name, else a path to a prompt file.</summary>
    public static PromptTemplate Resolve(string nameOrPath, IReadOnlyDictionary<string, Func<PromptTemplate>>? extra = null)
    {
        var named = extra?.FirstOrDefault(kv => string.Equals(kv.Key, nameOrPath, StringComparison.OrdinalIgnoreCase)).Value;
        if (named is not null) return named();
        if (BuiltInNames.Contains(nameOrPath, StringComparer.OrdinalIgnoreCase))
            return PromptFile.Parse(ReadBuiltIn(nameOrPath.ToLowerInvariant()), $"built-in prompt '{nameOrPath.ToLowerInvariant()}'");
        if (File.Exists(nameOrPath)) return PromptFile.Load(nameOrPath);
        throw StepDistillException.InvalidOption("Prompt", nameOrPath, $"neither a built-in prompt ({string.Join(", ", Names(extra))}) nor an existing file");
    }

    /// <summary>The text of a built-in prompt file, e.g. to copy it as a starting point for your own.</summary>
    public static string ReadBuiltIn(string name)
    {
        using var s = typeof(PromptLibrary).Assembly.GetManifestResourceStream($"StepDistill.Teacher.Prompts.BuiltIn.{name}.prompt")
            ?? throw new StepDistillException($"no built-in prompt '{name}'");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }
}
