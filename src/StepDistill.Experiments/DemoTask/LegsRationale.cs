using System.Globalization;
using System.Text;

namespace StepDistill.Experiments.DemoTask;

/// <summary>
/// Writes chain-of-thought rationales for <see cref="LegsTask"/> questions in a few phrasings, the way an LLM
/// varies its wording. Every phrasing names each animal's legs in question order and ends with the sum, so the
/// information a student can learn from is the same whichever phrasing is drawn.
/// </summary>
internal static class LegsRationale
{
    /// <summary>Number of phrasings <see cref="Write"/> knows.</summary>
    public const int Variants = 4;

    /// <summary>
    /// The rationale for <paramref name="animals"/> with the leg counts <paramref name="legs"/> (which may be wrong,
    /// for a simulated mistake) and the stated <paramref name="total"/>, in phrasing <paramref name="variant"/>
    /// (taken modulo <see cref="Variants"/>).
    /// </summary>
    public static string Write(IReadOnlyList<string> animals, IReadOnlyList<int> legs, int total, int variant)
    {
        ArgumentNullException.ThrowIfNull(animals);
        ArgumentNullException.ThrowIfNull(legs);
        if (animals.Count == 0 || animals.Count != legs.Count)
            throw new ArgumentException($"need one leg count per animal ({animals.Count} animals, {legs.Count} counts)");
        var n = legs.Select(l => l.ToString(CultureInfo.InvariantCulture)).ToArray();
        var sum = $"{string.Join(" + ", n)} = {total.ToString(CultureInfo.InvariantCulture)}";
        var sb = new StringBuilder();
        switch (((variant % Variants) + Variants) % Variants)
        {
            case 0: // A spider has 8 legs, a cat has 4 legs and a hen has 2 legs. 8 + 4 + 2 = 14.
                sb.Append(Capitalize(Join(animals.Select((a, i) => $"{Article(a)} {a} has {n[i]} legs"))));
                sb.Append(". ").Append(sum).Append('.');
                break;
            case 1: // spider: 8 legs, cat: 4 legs, hen: 2 legs. Adding them up: 8 + 4 + 2 = 14.
                sb.Append(string.Join(", ", animals.Select((a, i) => $"{a}: {n[i]} legs")));
                sb.Append(". Adding them up: ").Append(sum).Append('.');
                break;
            case 2: // The spider has 8 legs. The cat has 4 legs. ... In total 8 + 4 + 2 = 14.
                foreach (var (a, i) in animals.Select((a, i) => (a, i))) sb.Append($"The {a} has {n[i]} legs. ");
                sb.Append("In total ").Append(sum).Append('.');
                break;
            default: // Counting legs: spider 8, cat 4, hen 2. That makes 8 + 4 + 2 = 14 legs.
                sb.Append("Counting legs: ").Append(string.Join(", ", animals.Select((a, i) => $"{a} {n[i]}")));
                sb.Append(". That makes ").Append(sum).Append(" legs.");
                break;
        }
        return sb.ToString();
    }

    static string Article(string word) => "aeiou".Contains(word[0]) ? "an" : "a";

    static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    static string Join(IEnumerable<string> parts)
    {
        var list = parts.ToList();
        return list.Count == 1 ? list[0] : string.Join(", ", list.Take(list.Count - 1)) + " and " + list[^1];
    }
}
