using System.Text;

namespace StepDistill.Tokenization;

/// <summary>
/// The few facts we need from a SentencePiece <c>ModelProto</c> (pieces, their types and the special ids),
/// read with a minimal protobuf reader so that decoding and the load workaround do not depend on the
/// internals of Microsoft.ML.Tokenizers.
/// </summary>
internal sealed class SentencePieceModelInfo
{
    // sentencepiece_model.proto: ModelProto.pieces = 1, ModelProto.trainer_spec = 2;
    // SentencePiece.piece = 1, .type = 3; TrainerSpec.unk_id = 40, bos_id = 41, eos_id = 42, pad_id = 43.
    const int PiecesField = 1, TrainerSpecField = 2;
    const int PieceTextField = 1, PieceTypeField = 3;
    internal const int UnkIdField = 40, BosIdField = 41, EosIdField = 42, PadIdField = 43;

    public enum PieceType : byte { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Byte = 6, Unused = 5 }

    public required string[] Pieces { get; init; }
    public required PieceType[] Types { get; init; }
    public int UnkId { get; init; }
    public int BosId { get; init; }
    public int EosId { get; init; }
    public int PadId { get; init; }

    public static SentencePieceModelInfo Parse(ReadOnlySpan<byte> model, string source)
    {
        var pieces = new List<string>(32_000);
        var types = new List<PieceType>(32_000);
        // Proto2 defaults of TrainerSpec.
        int unk = 0, bos = 1, eos = 2, pad = -1;
        try
        {
            var r = new Reader(model);
            while (!r.End)
            {
                var (field, wire) = r.Tag();
                if (field == PiecesField && wire == 2)
                {
                    var sub = new Reader(r.Bytes());
                    string text = "";
                    var type = PieceType.Normal;
                    while (!sub.End)
                    {
                        var (f, w) = sub.Tag();
                        if (f == PieceTextField && w == 2) text = Encoding.UTF8.GetString(sub.Bytes());
                        else if (f == PieceTypeField && w == 0) type = (PieceType)sub.Varint();
                        else sub.Skip(w);
                    }
                    pieces.Add(text);
                    types.Add(type);
                }
                else if (field == TrainerSpecField && wire == 2)
                {
                    // Repeated occurrences of an embedded message merge, later scalars win: read them in order.
                    var sub = new Reader(r.Bytes());
                    while (!sub.End)
                    {
                        var (f, w) = sub.Tag();
                        if (w == 0 && f is >= UnkIdField and <= PadIdField)
                        {
                            var v = (int)sub.Varint(); // int32 fields: negative values are 10-byte varints, truncation restores them
                            switch (f)
                            {
                                case UnkIdField: unk = v; break;
                                case BosIdField: bos = v; break;
                                case EosIdField: eos = v; break;
                                default: pad = v; break;
                            }
                        }
                        else sub.Skip(w);
                    }
                }
                else r.Skip(wire);
            }
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException or InvalidDataException)
        {
            throw new StepDistillException($"{source}: not a valid SentencePiece model (protobuf parse failed: {e.Message})", e);
        }
        if (pieces.Count == 0)
            throw new StepDistillException($"{source}: not a valid SentencePiece model (no pieces found)");
        if (unk < 0 || unk >= pieces.Count)
            throw new StepDistillException($"{source}: SentencePiece unk_id {unk} is outside the {pieces.Count} pieces");
        return new SentencePieceModelInfo
        {
            Pieces = [.. pieces], Types = [.. types], UnkId = unk, BosId = bos, EosId = eos, PadId = pad,
        };
    }

    /// <summary>
    /// Protobuf bytes that, appended to the model, set <c>trainer_spec.bos_id</c> (and <c>eos_id</c>) to the
    /// unk id where they are -1. Microsoft.ML.Tokenizers 2.0.1 indexes its reverse vocabulary with bos_id/eos_id
    /// unchecked and throws IndexOutOfRangeException for -1 (T5's bos_id). Appending works because protobuf
    /// merges a repeated embedded message field and the last scalar wins; since we never ask that library
    /// for BOS/EOS, the fake id is never emitted. Empty when no fix is needed.
    /// </summary>
    public byte[] LoadWorkaroundBytes()
    {
        var payload = new List<byte>();
        if (BosId < 0) { WriteVarint(payload, (BosIdField << 3) | 0); WriteVarint(payload, (ulong)UnkId); }
        if (EosId < 0) { WriteVarint(payload, (EosIdField << 3) | 0); WriteVarint(payload, (ulong)UnkId); }
        if (payload.Count == 0) return [];
        var result = new List<byte>(payload.Count + 6);
        WriteVarint(result, (TrainerSpecField << 3) | 2);
        WriteVarint(result, (ulong)payload.Count);
        result.AddRange(payload);
        return [.. result];
    }

    static void WriteVarint(List<byte> to, ulong v)
    {
        while (v >= 0x80) { to.Add((byte)(v | 0x80)); v >>= 7; }
        to.Add((byte)v);
    }

    ref struct Reader(ReadOnlySpan<byte> data)
    {
        readonly ReadOnlySpan<byte> _data = data;
        int _pos;

        public readonly bool End => _pos >= _data.Length;

        public ulong Varint()
        {
            ulong v = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                byte b = _data[_pos++];
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return v;
            }
            throw new InvalidDataException($"varint too long at byte {_pos}");
        }

        public (int Field, int Wire) Tag()
        {
            var t = Varint();
            return ((int)(t >> 3), (int)(t & 7));
        }

        public ReadOnlySpan<byte> Bytes()
        {
            var len = checked((int)Varint());
            var s = _data.Slice(_pos, len);
            _pos += len;
            return s;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: _pos += 8; break;
                case 2: Bytes(); break;
                case 5: _pos += 4; break;
                default: throw new InvalidDataException($"unsupported protobuf wire type {wire} at byte {_pos}");
            }
            if (_pos > _data.Length) throw new InvalidDataException("truncated field");
        }
    }
}
