using System.Text;

namespace StepDistill.Serving;

/// <summary>
/// OpenAI's <c>stop</c>: the answer ends before the first stop sequence. Applied to the student's text (it has no
/// stop tokens of its own). The streaming form holds back just enough text to see a sequence split across pieces.
/// </summary>
internal sealed class StopSequences(IReadOnlyList<string> stops)
{
    readonly StringBuilder _pending = new();
    readonly int _hold = stops.Count == 0 ? 0 : stops.Max(s => s.Length) - 1;

    /// <summary>True once a stop sequence was seen; later text is dropped.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The text that can be sent now.</summary>
    public string Push(string text)
    {
        if (Stopped) return "";
        _pending.Append(text);
        var s = _pending.ToString();
        var cut = First(s, stops);
        if (cut >= 0)
        {
            Stopped = true;
            _pending.Clear();
            return s[..cut];
        }
        var n = Math.Max(0, s.Length - _hold);
        _pending.Remove(0, n);
        return s[..n];
    }

    /// <summary>What was held back, at the end of the stream.</summary>
    public string Flush()
    {
        var s = Stopped ? "" : _pending.ToString();
        _pending.Clear();
        return s;
    }

    /// <summary>The whole text cut at the first stop sequence, and whether one was found.</summary>
    public static (string Text, bool Stopped) Apply(string text, IReadOnlyList<string> stops)
    {
        var cut = First(text, stops);
        return cut < 0 ? (text, false) : (text[..cut], true);
    }

    static int First(string s, IReadOnlyList<string> stops)
    {
        var best = -1;
        foreach (var stop in stops)
        {
            var i = s.IndexOf(stop, StringComparison.Ordinal);
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }
}
