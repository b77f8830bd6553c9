using System.Globalization;
using System.Text.RegularExpressions;
using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Tokenization;

namespace StepDistill.Experiments.DemoTask;

/// <summary>
/// Sizes and difficulty of a generated <see cref="LegsTask"/> data set. The defaults are the design the demo
/// search chose (docs/demo-design-search.md, round 3): two creatures per question drawn from the real animals and
/// <see cref="InventedKinds"/> invented ones, a 32000-question pool and 1000 test questions (one = 0.1 point).
/// </summary>
internal sealed record LegsTaskOptions
{
    /// <summary>Everything generated (which questions, which split) follows from this seed.</summary>
    public int Seed { get; init; }
    public int TrainSize { get; init; } = 32000;
    public int DevSize { get; init; } = 200;
    public int TestSize { get; init; } = 1000;
    /// <summary>Animals per question: fewest.</summary>
    public int MinAnimals { get; init; } = 2;
    /// <summary>Animals per question: most. More animals = more steps and a harder end-to-end sum.</summary>
    public int MaxAnimals { get; init; } = 2;
    /// <summary>
    /// How many of <see cref="LegsTask.Invented"/> join the real animals. Their leg counts are facts no name
    /// hints at and each is mentioned only a few times in a small training set: a student trained on totals alone
    /// must untangle them from sums, while the teacher's rationale states each one.
    /// </summary>
    public int InventedKinds { get; init; } = 300;

    internal void Validate()
    {
        if (TrainSize < 0 || DevSize < 0 || TestSize < 0)
            throw new StepDistillException($"split sizes must not be negative (train {TrainSize}, dev {DevSize}, test {TestSize})");
        if (MinAnimals < 1 || MaxAnimals < MinAnimals || MaxAnimals > 8)
            throw new StepDistillException($"animals per question must satisfy 1 <= min <= max <= 8 (min {MinAnimals}, max {MaxAnimals})");
        if (InventedKinds < 0 || InventedKinds > LegsTask.Invented.Count)
            throw new StepDistillException($"invented kinds must be within 0..{LegsTask.Invented.Count} (got {InventedKinds})");
    }
}

/// <summary>One question: the animals in order and the number of legs each has (the gold intermediate steps).</summary>
internal sealed record LegsQuestion(string Id, IReadOnlyList<string> Animals, IReadOnlyList<int> Legs)
{
    /// <summary>The question text, e.g. <c>How many legs in total: spider, cat, hen?</c></summary>
    public string Input => LegsTask.FormatQuestion(Animals);

    /// <summary>The total number of legs.</summary>
    public int Answer => Legs.Sum();

    /// <summary>The gold label as text.</summary>
    public string Label => Answer.ToString(CultureInfo.InvariantCulture);

    /// <summary>The example the trainer sees: id, input and gold label; no rationale (a teacher writes that).</summary>
    public Example ToExample() => new(Id, Input, Label);
}

/// <summary>The generated splits; disjoint by question text.</summary>
internal sealed record LegsTaskSplits(IReadOnlyList<LegsQuestion> Train, IReadOnlyList<LegsQuestion> Dev, IReadOnlyList<LegsQuestion> Test)
{
    /// <summary>One split (<c>train</c>, <c>dev</c> or <c>test</c>) as a data set scored by exact match.</summary>
    public Dataset ToDataset(string split)
    {
        var questions = split switch
        {
            "train" => Train,
            "dev" => Dev,
            "test" => Test,
            _ => throw new ArgumentException($"unknown split '{split}' (train, dev, test)", nameof(split)),
        };
        return new Dataset(LegsTask.Name, split, TaskKind.Generic, MetricKind.Exact, "built-in:" + LegsTask.Name,
            [.. questions.Select(q => q.ToExample())]);
    }
}

/// <summary>
/// The built-in demo task: "How many legs in total: spider, cat, hen?" → 14. Each step (how many legs one
/// animal has) is world knowledge a teacher LLM has and a from-scratch student lacks; the answer is the sum of the
/// steps. A student trained only on totals must untangle each animal's share from sums; the teacher's rationale
/// ("A spider has 8 legs, ...") states every share, which is the information step-by-step distillation transfers.
/// </summary>
internal partial class LegsTask
{
    /// <summary>Name of the task (prompt name and data set name).</summary>
    public const string Name = "legs";

    /// <summary>
    /// Every creature a question may name with its true number of legs: the real animals, then the
    /// <see cref="Invented"/> ones.
    /// </summary>
    public static IReadOnlyDictionary<string, int> Animals => Bestiary.All;

    /// <summary>
    /// Invented creatures (pronounceable nonsense names) in a fixed order, each with an even number of legs from
    /// 0 to 10 that nothing in its name hints at; a real LLM teacher learns them from the prompt's instructions.
    /// </summary>
    public static IReadOnlyList<string> Invented => Bestiary.Invented;

    /// <summary>Most invented creatures a task can use.</summary>
    public const int MaxInvented = 300;

    static readonly (Dictionary<string, int> All, string[] Invented) Bestiary = BuildBestiary();

    static (Dictionary<string, int>, string[]) BuildBestiary()
    {
        var d = RealAnimals();
        var invented = new List<string>(MaxInvented);
        // A fixed seed, not the task's: the creatures, their legs and so the vocabulary are the same in every run.
        var rng = new Random(20261201);
        string[] onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "gr", "pl", "tr"];
        string[] vowels = ["a", "e", "i", "o", "u", "oo", "ai"];
        var reserved = ReservedWords();
        while (invented.Count < MaxInvented)
        {
            var name = string.Concat(Enumerable.Range(0, rng.Next(2, 4)).Select(_ => onsets[rng.Next(onsets.Length)] + vowels[rng.Next(vowels.Length)]));
            if (rng.Next(2) == 0) name += onsets[rng.Next(onsets.Length)];
            var legs = 2 * rng.Next(0, 6);
            if (reserved.Contains(name) || !d.TryAdd(name, legs)) continue;
            invented.Add(name);
        }
        return (d, [.. invented]);
    }

    // Words of the question, the prompt and every rationale phrasing: no creature may be named like one of them.
    static HashSet<string> ReservedWords()
    {
        var text = string.Join(" ", Enumerable.Range(0, LegsRationale.Variants).Select(v => LegsRationale.Write(["x"], [0], 0, v)))
                   + " " + LegsPrompt.Instructions + " How many legs in total So the answer is";
        return [.. text.ToLowerInvariant().Split([' ', ',', '.', ':', '"', '+', '='], StringSplitOptions.RemoveEmptyEntries)];
    }

    static Dictionary<string, int> RealAnimals()
    {
        var groups = new (int Legs, string Names)[]
        {
            (0, "snake fish worm snail slug eel whale dolphin shark"),
            (2, "hen duck owl crow eagle parrot penguin goose swan robin ostrich pigeon chicken sparrow flamingo"),
            (4, "cat dog cow horse pig goat sheep lion tiger bear fox wolf mouse rabbit frog lizard deer zebra camel elephant giraffe turtle"),
            (6, "ant bee fly beetle wasp moth flea cricket butterfly ladybug grasshopper termite mosquito"),
            (8, "spider scorpion tick mite tarantula"),
            (10, "crab lobster shrimp"),
        };
        var d = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (legs, names) in groups)
            foreach (var n in names.Split(' ')) d.Add(n, legs);
        return d;
    }

    static readonly string[] RealNames = [.. Animals.Keys.Except(Invented).Order(StringComparer.Ordinal)];

    /// <summary>
    /// Generates train, dev and test questions from <see cref="LegsTaskOptions.Seed"/>. Questions are drawn
    /// uniformly (distinct animals in random order) and never repeat across or within splits.
    /// </summary>
    public static LegsTaskSplits Generate(LegsTaskOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        string[] names = [.. RealNames, .. Invented.Take(options.InventedKinds)];
        long possible = 0;
        for (int k = options.MinAnimals; k <= options.MaxAnimals; k++)
        {
            long p = 1;
            for (int i = 0; i < k; i++) p *= names.Length - i;
            possible += p;
        }
        long total = (long)options.TrainSize + options.DevSize + options.TestSize;
        // Rejection sampling slows down near exhaustion; half the space is plenty for any demo.
        if (total > possible / 2)
            throw new StepDistillException($"{total} questions requested but only {possible} distinct ones exist with " +
                $"{options.MinAnimals}-{options.MaxAnimals} animals; ask for fewer");

        var rng = new Random(options.Seed);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        // Test first, then dev, then train: growing the training set never changes the test questions.
        var test = Draw(options.TestSize, "test");
        var dev = Draw(options.DevSize, "dev");
        var train = Draw(options.TrainSize, "train");
        return new LegsTaskSplits(train, dev, test);

        List<LegsQuestion> Draw(int count, string split)
        {
            var list = new List<LegsQuestion>(count);
            while (list.Count < count)
            {
                int k = rng.Next(options.MinAnimals, options.MaxAnimals + 1);
                var picked = new string[k];
                for (int i = 0; i < k; i++)
                {
                    string a;
                    do a = names[rng.Next(names.Length)]; while (Array.IndexOf(picked, a, 0, i) >= 0);
                    picked[i] = a;
                }
                if (!seen.Add(string.Join(' ', picked))) continue;
                list.Add(new LegsQuestion($"{Name}-{split}-{list.Count:D5}", picked, [.. picked.Select(a => Animals[a])]));
            }
            return list;
        }
    }

    /// <summary>The largest total a question can have (eight animals of ten legs), plus room for a teacher's slip.</summary>
    internal const int MaxTotal = 8 * 10 + 2;

    /// <summary>
    /// A word-level tokenizer covering everything this task and its (simulated) teacher write: the question
    /// template with every animal, every rationale phrasing, every total, and the trainer's <c>predict</c> /
    /// <c>explain</c> prefixes. It depends on no data, so every run and seed gets the same ids.
    /// </summary>
    public static WordLevelTokenizer BuildTokenizer()
    {
        string[] names = [.. Animals.Keys];
        var texts = new List<string> { FormatQuestion(names) };
        var legs = names.Select(a => Animals[a]).ToArray();
        for (int v = 0; v < LegsRationale.Variants; v++)
            texts.Add(LegsRationale.Write(names, legs, legs.Sum(), v) + " So the answer is 0.");
        texts.Add("A An"); // a capitalised first article, whichever animal comes first
        texts.AddRange(Enumerable.Range(0, MaxTotal + 1).Select(i => i.ToString(CultureInfo.InvariantCulture)));
        return WordLevelTokenizer.Build(texts, ["predict", "explain", ":"]);
    }

    /// <summary>The question text for <paramref name="animals"/>.</summary>
    public static string FormatQuestion(IReadOnlyList<string> animals)
    {
        ArgumentNullException.ThrowIfNull(animals);
        if (animals.Count == 0) throw new ArgumentException("a question needs at least one animal", nameof(animals));
        return $"How many legs in total: {string.Join(", ", animals)}?";
    }

    [GeneratedRegex(@"How many legs in total:\s*(?<list>[^?\n]*)\?", RegexOptions.CultureInvariant)]
    private static partial Regex QuestionPattern();

    /// <summary>
    /// Finds the last question of this task in <paramref name="text"/> (a bare question or a whole prompt)
    /// and returns its animals. False when there is none or an animal is not one the task knows.
    /// </summary>
    public static bool TryParseQuestion(string text, out string[] animals)
    {
        ArgumentNullException.ThrowIfNull(text);
        animals = [];
        var matches = QuestionPattern().Matches(text);
        if (matches.Count == 0) return false;
        var parts = matches[^1].Groups["list"].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || parts.Any(p => !Animals.ContainsKey(p))) return false;
        animals = parts;
        return true;
    }

    [GeneratedRegex(@"So the answer is\s*(?<n>-?\d+)\s*\.?\s*$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex AnswerPattern();

    /// <summary>
    /// Splits a teacher completion "… So the answer is 14." into rationale and integer answer, the way the
    /// teacher pipeline's answer phrase does. False when the answer line is missing or not a number.
    /// </summary>
    public static bool TryParseCompletion(string completion, out string rationale, out int answer)
    {
        ArgumentNullException.ThrowIfNull(completion);
        rationale = "";
        answer = 0;
        var text = completion.Trim();
        var m = AnswerPattern().Match(text);
        if (!m.Success || !int.TryParse(m.Groups["n"].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out answer))
            return false;
        rationale = text[..m.Index].Trim();
        return rationale.Length > 0;
    }
}
