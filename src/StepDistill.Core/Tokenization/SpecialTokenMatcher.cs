namespace StepDistill.Tokenization;

/// <summary>
/// Finds literal special-token text (<c>&lt;/s&gt;</c>, <c>&lt;extra_id_0&gt;</c>, ...) inside input text, the way
/// Hugging Face's slow tokenizers cut them out before running the model. All such tokens start with '&lt;' and
/// end with the first '&gt;', and none is a prefix of another, so a scan from each '&lt;' to the next '&gt;' finds
/// exactly the matches HF's trie finds.
/// </summary>
internal sealed class SpecialTokenMatcher
{
    public delegate void ChunkEncoder<TState>(TState state, ReadOnlySpan<char> chunk, List<int> ids);

    readonly Dictionary<string, (int Id, bool Strip)> _tokens;
    readonly Dictionary<string, (int Id, bool Strip)>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    readonly int _maxLength;

    /// <param name="tokens">token text → (id, whether HF strips the whitespace on both sides of it).</param>
    public SpecialTokenMatcher(IEnumerable<KeyValuePair<string, (int Id, bool Strip)>> tokens)
    {
        _tokens = new Dictionary<string, (int, bool)>(tokens, StringComparer.Ordinal);
        foreach (var key in _tokens.Keys)
        {
            if (key.Length < 2 || key[0] != '<' || key[^1] != '>' || key.IndexOf('>') != key.Length - 1)
                throw new ArgumentException($"special token '{key}' must look like <name>", nameof(tokens));
        }
        _lookup = _tokens.GetAlternateLookup<ReadOnlySpan<char>>();
        _maxLength = _tokens.Count == 0 ? 0 : _tokens.Keys.Max(k => k.Length);
    }

    public bool TryGetId(string token, out int id)
    {
        var found = _tokens.TryGetValue(token, out var v);
        id = v.Id;
        return found;
    }

    /// <summary>Finds the first special token at or after <paramref name="from"/>.</summary>
    public bool TryFindNext(ReadOnlySpan<char> text, int from, out int start, out int length, out int id, out bool strip)
    {
        int pos = from;
        while (pos < text.Length)
        {
            int lt = text[pos..].IndexOf('<');
            if (lt < 0) break;
            lt += pos;
            var window = text.Slice(lt, Math.Min(_maxLength, text.Length - lt));
            int gt = window.IndexOf('>');
            if (gt > 0 && _lookup.TryGetValue(window[..(gt + 1)], out var hit))
            {
                (start, length, id, strip) = (lt, gt + 1, hit.Id, hit.Strip);
                return true;
            }
            pos = lt + 1;
        }
        (start, length, id, strip) = (-1, 0, -1, false);
        return false;
    }

    /// <summary>
    /// Splits <paramref name="text"/> around special tokens: calls <paramref name="encodeChunk"/> for each
    /// non-empty piece of plain text and appends special ids directly, stripping whitespace next to tokens
    /// that HF strips around.
    /// </summary>
    public void Encode<TState>(string text, List<int> ids, TState state, ChunkEncoder<TState> encodeChunk)
    {
        var span = text.AsSpan();
        int pos = 0;
        bool stripLeft = false;
        while (true)
        {
            bool found = TryFindNext(span, pos, out int start, out int length, out int id, out bool strip);
            var chunk = span[pos..(found ? start : span.Length)];
            if (stripLeft) chunk = chunk.TrimStart();
            if (found && strip) chunk = chunk.TrimEnd();
            if (!chunk.IsEmpty) encodeChunk(state, chunk, ids);
            if (!found) return;
            ids.Add(id);
            pos = start + length;
            stripLeft = strip;
        }
    }
}
