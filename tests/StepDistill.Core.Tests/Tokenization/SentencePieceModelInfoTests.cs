using StepDistill.Tokenization;

namespace StepDistill.Core.Tests.Tokenization;

/// <summary>The protobuf reader and the bos_id workaround, on models built here (no shared files).</summary>
public class SentencePieceModelInfoTests
{
    // Minimal protobuf writer for a ModelProto: pieces (field 1) and a trainer_spec (field 2).
    static byte[] Model(int? unk, int? bos, params (string Piece, int Type)[] pieces)
    {
        var b = new List<byte>();
        foreach (var (piece, type) in pieces)
        {
            var p = new List<byte> { 0x0A };
            var text = System.Text.Encoding.UTF8.GetBytes(piece);
            Varint(p, (ulong)text.Length); p.AddRange(text);
            p.Add(0x15); p.AddRange(BitConverter.GetBytes(-1.5f)); // score (fixed32), skipped by the reader
            p.Add(0x18); Varint(p, (ulong)type);
            b.Add(0x0A); Varint(b, (ulong)p.Count); b.AddRange(p);
        }
        var t = new List<byte>();
        if (unk is int u) { Varint(t, 40 << 3); Varint(t, (ulong)(long)u); }
        if (bos is int o) { Varint(t, 41 << 3); Varint(t, (ulong)(long)o); } // -1 → 10-byte varint
        b.Add(0x12); Varint(b, (ulong)t.Count); b.AddRange(t);
        return [.. b];
    }

    static void Varint(List<byte> to, ulong v)
    {
        while (v >= 0x80) { to.Add((byte)(v | 0x80)); v >>= 7; }
        to.Add((byte)v);
    }

    [Fact]
    public void Reads_pieces_types_and_special_ids()
    {
        var info = SentencePieceModelInfo.Parse(Model(2, -1, ("<pad>", 3), ("</s>", 3), ("<unk>", 2), ("▁a", 1)), "test");
        Assert.Equal(["<pad>", "</s>", "<unk>", "▁a"], info.Pieces);
        Assert.Equal(SentencePieceModelInfo.PieceType.Unknown, info.Types[2]);
        Assert.Equal(SentencePieceModelInfo.PieceType.Normal, info.Types[3]);
        Assert.Equal(2, info.UnkId);
        Assert.Equal(-1, info.BosId);
        Assert.Equal(2, info.EosId); // proto2 default
    }

    [Fact]
    public void Workaround_bytes_set_bos_to_unk_and_parse_back()
    {
        var model = Model(2, -1, ("<pad>", 3), ("</s>", 3), ("<unk>", 2), ("▁a", 1));
        var info = SentencePieceModelInfo.Parse(model, "test");
        var fix = info.LoadWorkaroundBytes();
        Assert.Equal([0x12, 0x03, 0xC8, 0x02, 0x02], fix); // the bytes documented in shared/notes/dotnet-deps.md §4
        var patched = SentencePieceModelInfo.Parse([.. model, .. fix], "test");
        Assert.Equal(2, patched.BosId);
        Assert.Empty(patched.LoadWorkaroundBytes());
    }

    [Fact]
    public void Workaround_uses_the_models_unk_id_and_fixes_eos_too()
    {
        var model = Model(200, -1, [.. Enumerable.Range(0, 201).Select(i => ($"p{i}", i == 200 ? 2 : 1))]);
        var withEos = new List<byte>(model) { 0x12, 0x0C, 0xD0, 0x02 }; // eos_id = -1 (10-byte varint)
        withEos.AddRange([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
        var info = SentencePieceModelInfo.Parse(withEos.ToArray(), "test");
        Assert.Equal(-1, info.EosId);
        var patched = SentencePieceModelInfo.Parse([.. withEos, .. info.LoadWorkaroundBytes()], "test");
        Assert.Equal(200, patched.BosId);
        Assert.Equal(200, patched.EosId);
    }

    [Fact]
    public void Garbage_is_a_clear_error()
    {
        var e = Assert.Throws<StepDistillException>(() => SentencePieceModelInfo.Parse([0x0A, 0x7F, 0x01], "x/spiece.model"));
        Assert.Contains("x/spiece.model", e.Message);
    }
}
