using System.Text;
using System.Text.Json.Nodes;

namespace StepDistill.Tokenization;

/// <summary>
/// ByT5's byte-level tokenizer as Hugging Face's <c>ByT5Tokenizer</c> defines it: pad 0, EOS 1, unk 2,
/// id = UTF-8 byte + 3 (3..258), then <c>&lt;extra_id_k&gt;</c> = 259 + k for k below <see cref="ExtraIds"/>
/// (125 by default, vocabulary 384). Needs no files. Literal special-token text in the input maps to its id.
/// </summary>
public sealed class ByteTokenizer : ITextTokenizer
{
    /// <summary>The sentinel ids (<c>&lt;extra_id_N&gt;</c>) a ByT5 vocabulary ends with.</summary>
    public const int DefaultExtraIds = 125;
    const int Offset = 3;           // pad, eos, unk come before the bytes
    const int FirstSentinel = Offset + 256;
    static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    readonly SpecialTokenMatcher _specials;

    /// <summary>A ByT5 tokenizer with <paramref name="extraIds"/> sentinel ids after the 256 byte ids and 3 special ids.</summary>
    public ByteTokenizer(int extraIds = DefaultExtraIds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(extraIds);
        ExtraIds = extraIds;
        // HF 4.30 wraps pad/eos/unk in AddedToken(lstrip=False, rstrip=False) but passes the sentinels as
        // plain strings, which its tokenize() strips whitespace around.
        var specials = new List<KeyValuePair<string, (int, bool)>>
        {
            new("<pad>", (ITextTokenizer.PadId, false)),
            new("</s>", (ITextTokenizer.EosId, false)),
            new("<unk>", (ITextTokenizer.UnkId, false)),
        };
        for (int k = 0; k < extraIds; k++) specials.Add(new($"<extra_id_{k}>", (FirstSentinel + k, true)));
        _specials = new SpecialTokenMatcher(specials);
    }

    /// <summary>Number of sentinel tokens after the byte ids.</summary>
    public int ExtraIds { get; }

    /// <summary>Special ids, byte ids and sentinels.</summary>
    public int VocabSize => FirstSentinel + ExtraIds;

    /// <summary>Id of the sentinel <c>&lt;extra_id_k&gt;</c> (259 + k, as in HF's ByT5Tokenizer).</summary>
    public int SentinelId(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(k, ExtraIds);
        return FirstSentinel + k;
    }

    /// <summary>The UTF-8 bytes of <paramref name="text"/> as ids (byte + 3), then EOS when <paramref name="addEos"/>.</summary>
    public int[] Encode(string text, bool addEos = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.IndexOf('<') < 0)
        {
            // Fast path: one exact-size array, no intermediate list.
            int n = Utf8.GetByteCount(text);
            var result = new int[n + (addEos ? 1 : 0)];
            Span<byte> buffer = n <= 1024 ? stackalloc byte[n] : new byte[n];
            Utf8.GetBytes(text, buffer);
            for (int i = 0; i < n; i++) result[i] = buffer[i] + Offset;
            if (addEos) result[n] = ITextTokenizer.EosId;
            return result;
        }
        var ids = new List<int>(text.Length + 1);
        _specials.Encode(text, ids, 0, static (_, chunk, into) =>
        {
            int n = Utf8.GetByteCount(chunk);
            Span<byte> buffer = n <= 1024 ? stackalloc byte[n] : new byte[n];
            Utf8.GetBytes(chunk, buffer);
            foreach (var b in buffer) into.Add(b + Offset);
        });
        if (addEos) ids.Add(ITextTokenizer.EosId);
        return [.. ids];
    }

    /// <summary>
    /// Bytes decoded as UTF-8 (invalid sequences become U+FFFD). Specials are dropped when skipping, otherwise
    /// printed as their text; ids outside the vocabulary count as unk.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            if (id >= Offset && id < FirstSentinel)
            {
                bytes.Add((byte)(id - Offset));
                continue;
            }
            if (skipSpecialTokens) continue; // bytes on both sides join, as in HF
            Flush();
            text.Append(IdToToken(id >= 0 && id < VocabSize ? id : ITextTokenizer.UnkId));
        }
        Flush();
        return text.ToString();

        void Flush()
        {
            if (bytes.Count == 0) return;
            text.Append(Utf8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes)));
            bytes.Clear();
        }
    }

    /// <summary>Printable ASCII bytes as themselves, other bytes as <c>&lt;0xNN&gt;</c>, specials as their text.</summary>
    public string IdToToken(int id)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(id);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(id, VocabSize);
        return id switch
        {
            ITextTokenizer.PadId => "<pad>",
            ITextTokenizer.EosId => "</s>",
            ITextTokenizer.UnkId => "<unk>",
            >= FirstSentinel => $"<extra_id_{id - FirstSentinel}>",
            _ when id - Offset is >= 0x20 and < 0x7F => ((char)(id - Offset)).ToString(),
            _ => $"<0x{id - Offset:X2}>",
        };
    }

    /// <summary>Writes <c>tokenizer_config.json</c> (tokenizer_class ByT5Tokenizer) and <c>special_tokens_map.json</c>.</summary>
    public void Save(string directory)
    {
        FileOps.CreateDirectory(directory);
        var sentinels = new JsonArray();
        for (int k = 0; k < ExtraIds; k++) sentinels.Add($"<extra_id_{k}>");
        var map = new JsonObject
        {
            ["additional_special_tokens"] = sentinels,
            ["eos_token"] = "</s>",
            ["pad_token"] = "<pad>",
            ["unk_token"] = "<unk>",
        };
        var config = new JsonObject
        {
            ["additional_special_tokens"] = sentinels.DeepClone(),
            ["eos_token"] = "</s>",
            ["extra_ids"] = ExtraIds,
            ["pad_token"] = "<pad>",
            ["tokenizer_class"] = "ByT5Tokenizer",
            ["unk_token"] = "<unk>",
        };
        TokenizerConfig.Write(directory, config, map);
    }
}
