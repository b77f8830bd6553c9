using System.Collections;
using System.IO.Compression;
using System.Text;
using TorchSharp;

namespace StepDistill.Student.Checkpoint;

/// <summary>
/// Reads a <c>pytorch_model.bin</c> written by <c>torch.save(state_dict)</c> (PyTorch's zip format, 1.6 and later)
/// through TorchSharp.PyBridge. Before PyBridge sees the file, every pickle in it is scanned, and any global other
/// than the few PyTorch uses to rebuild tensors is refused: a pickle can name any Python callable, and a
/// state dict never needs more than these.
/// </summary>
public static class PyTorchBin
{
    /// <summary>
    /// Loads every tensor of the state dict in <paramref name="path"/>, keyed by its name. Names that share storage
    /// in the file (tied embeddings) are all returned. The caller owns (and disposes) the tensors.
    /// </summary>
    /// <exception cref="StepDistillException">The file is missing, not a zip-format PyTorch checkpoint, or its pickle
    /// asks for a global outside the allow-list (the message names the file and the global).</exception>
    public static Dictionary<string, torch.Tensor> Load(string path)
    {
        if (!File.Exists(path)) throw new StepDistillException($"{path}: file not found");
        PickleGlobalScanner.CheckFile(path);

        Hashtable raw;
        try
        {
            raw = TorchSharp.PyBridge.PyTorchUnpickler.UnpickleStateDict(path);
        }
        catch (Exception e) when (e is not StepDistillException and not OutOfMemoryException)
        {
            throw new StepDistillException($"{path}: cannot read the PyTorch checkpoint: {e.Message}", e);
        }

        var result = new Dictionary<string, torch.Tensor>(raw.Count, StringComparer.Ordinal);
        foreach (DictionaryEntry entry in raw)
        {
            if (entry.Key is not string name || entry.Value is not torch.Tensor tensor)
            {
                foreach (var t in result.Values) t.Dispose();
                throw new StepDistillException(
                    $"{path}: not a state dict of tensors (entry '{entry.Key}' is {entry.Value?.GetType().Name ?? "null"})");
            }
            result[name] = tensor;
        }
        return result;
    }
}

/// <summary>
/// Walks the opcodes of the pickles inside a PyTorch zip checkpoint without building any object, and lists the
/// globals they name (GLOBAL, INST and STACK_GLOBAL). The operand stack is tracked symbolically so a STACK_GLOBAL's
/// module and name are the strings actually on the stack, not merely the last ones pushed.
/// </summary>
internal static class PickleGlobalScanner
{
    /// <summary>What torch.save of a state dict uses, and what PyBridge knows how to rebuild.</summary>
    internal static readonly IReadOnlySet<string> Allowed = new HashSet<string>(StringComparer.Ordinal)
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch.DoubleStorage", "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage",
        "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage",
        "torch.ByteStorage", "torch.BoolStorage", "torch.ComplexDoubleStorage", "torch.ComplexFloatStorage",
    };

    internal static void CheckFile(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        if (stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4 || magic[0] != 'P' || magic[1] != 'K' || magic[2] != 3 || magic[3] != 4)
            throw new StepDistillException(
                $"{path}: not a zip-format PyTorch checkpoint (legacy torch.save format from before PyTorch 1.6, or not a checkpoint at all); " +
                "re-save it with torch.save in a newer PyTorch, or convert it to model.safetensors");
        stream.Position = 0;

        ZipArchive zip;
        try { zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true); }
        catch (InvalidDataException e) { throw new StepDistillException($"{path}: damaged zip archive: {e.Message}", e); }
        using (zip)
        {
            // PyBridge unpickles the first entry whose name ends in "data.pkl"; scanning all of them covers that one.
            var pickles = zip.Entries.Where(e => e.Name.EndsWith("data.pkl", StringComparison.Ordinal)).ToList();
            if (pickles.Count == 0) throw new StepDistillException($"{path}: no data.pkl inside; not a PyTorch checkpoint");
            foreach (var entry in pickles)
            {
                byte[] data;
                using (var s = entry.Open())
                using (var ms = new MemoryStream())
                {
                    s.CopyTo(ms);
                    data = ms.ToArray();
                }
                string? refused;
                try
                {
                    refused = FindDisallowed(data);
                }
                catch (FormatException e)
                {
                    throw new StepDistillException($"{path}: {entry.FullName}: malformed pickle: {e.Message}", e);
                }
                if (refused != null)
                    throw new StepDistillException(
                        $"{path}: refused to load: its pickle ({entry.FullName}) asks for the Python global '{refused}', which a " +
                        "PyTorch state dict never needs (only tensor-rebuilding globals are allowed). The file may be malicious; " +
                        "use a safetensors checkpoint instead.");
            }
        }
    }

    /// <summary>Returns the first global outside <see cref="Allowed"/>, or null when the pickle names only allowed ones.</summary>
    internal static string? FindDisallowed(byte[] pickle)
    {
        foreach (var g in Globals(pickle))
            if (!Allowed.Contains(g)) return g;
        return null;
    }

    static readonly object Other = new();
    static readonly object Mark = new();

    /// <summary>Every global the pickle names, in order. Throws FormatException on truncated or unknown opcodes.</summary>
    internal static List<string> Globals(byte[] p)
    {
        var found = new List<string>();
        var stack = new List<object>();
        var memo = new Dictionary<long, object>();
        int i = 0;

        void Need(long n, int at)
        {
            if (n < 0 || at + n > p.Length) throw new FormatException($"truncated at byte {at}");
        }
        object Pop()
        {
            if (stack.Count == 0) throw new FormatException($"stack underflow at byte {i}");
            var v = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return v;
        }
        void PopMark()
        {
            int m = stack.LastIndexOf(Mark);
            if (m < 0) throw new FormatException($"no MARK before byte {i}");
            stack.RemoveRange(m, stack.Count - m);
        }
        string ReadLine(byte[] span)
        {
            int nl = span.AsSpan(i).IndexOf((byte)'\n');
            if (nl < 0) throw new FormatException($"unterminated line at byte {i}");
            var s = Encoding.Latin1.GetString(span, i, nl);
            i += nl + 1;
            return s;
        }
        string Str(byte[] span, long n)
        {
            Need(n, i);
            var s = Encoding.UTF8.GetString(span, i, (int)n);
            i += (int)n;
            return s;
        }
        void Skip(long n)
        {
            Need(n, i);
            i += (int)n;
        }
        uint U32(byte[] span) { Need(4, i); var v = BitConverter.ToUInt32(span, i); i += 4; return v; }
        long I64(byte[] span) { Need(8, i); var v = BitConverter.ToInt64(span, i); i += 8; return v; }
        void AddGlobal(string module, string name)
        {
            // Protocol 2 pickles written by Python 3 use Python 2 module names (fix_imports); name both the same way.
            if (module == "__builtin__") module = "builtins";
            found.Add(module + "." + name);
        }

        while (true)
        {
            Need(1, i);
            byte op = p[i++];
            switch (op)
            {
                case (byte)'.': return found;                                   // STOP
                case (byte)'(': stack.Add(Mark); break;                          // MARK
                case (byte)'0': Pop(); break;                                    // POP
                case (byte)'1': PopMark(); break;                                // POP_MARK
                case (byte)'2': { var v = Pop(); stack.Add(v); stack.Add(v); break; } // DUP
                case (byte)'F':
                case (byte)'I':
                case (byte)'L':                   // FLOAT, INT, LONG (text)
                    ReadLine(p); stack.Add(Other); break;
                case (byte)'S':                                                   // STRING (quoted repr)
                    stack.Add(ReadLine(p).Trim('\'', '"')); break;
                case (byte)'V':                                                   // UNICODE (raw-unicode-escape)
                    stack.Add(ReadLine(p)); break;
                case (byte)'P': ReadLine(p); stack.Add(Other); break;             // PERSID
                case (byte)'Q': Pop(); stack.Add(Other); break;                   // BINPERSID
                case (byte)'J': Skip(4); stack.Add(Other); break;                 // BININT
                case (byte)'K': Skip(1); stack.Add(Other); break;                 // BININT1
                case (byte)'M': Skip(2); stack.Add(Other); break;                 // BININT2
                case (byte)'G': Skip(8); stack.Add(Other); break;                 // BINFLOAT
                case (byte)'N': case 0x88: case 0x89: stack.Add(Other); break;    // NONE, NEWTRUE, NEWFALSE
                case 0x8a: { Need(1, i); int n = p[i++]; Skip(n); stack.Add(Other); break; }   // LONG1
                case 0x8b: { long n = U32(p); Skip(n); stack.Add(Other); break; }              // LONG4
                case (byte)'T': { long n = U32(p); Need(n, i); stack.Add(Encoding.Latin1.GetString(p, i, (int)n)); i += (int)n; break; } // BINSTRING
                case (byte)'U': { Need(1, i); int n = p[i++]; Need(n, i); stack.Add(Encoding.Latin1.GetString(p, i, n)); i += n; break; } // SHORT_BINSTRING
                case (byte)'X': { long n = U32(p); stack.Add(Str(p, n)); break; }               // BINUNICODE
                case 0x8c: { Need(1, i); int n = p[i++]; stack.Add(Str(p, n)); break; }        // SHORT_BINUNICODE
                case 0x8d: { long n = I64(p); stack.Add(Str(p, n)); break; }                    // BINUNICODE8
                case (byte)'B': { long n = U32(p); Skip(n); stack.Add(Other); break; }          // BINBYTES
                case (byte)'C': { Need(1, i); int n = p[i++]; Skip(n); stack.Add(Other); break; } // SHORT_BINBYTES
                case 0x8e: case 0x96: { long n = I64(p); Skip(n); stack.Add(Other); break; }    // BINBYTES8, BYTEARRAY8
                case 0x97: stack.Add(Other); break;                                // NEXT_BUFFER
                case 0x98: break;                                                  // READONLY_BUFFER
                case (byte)'}':
                case (byte)']':
                case (byte)')':
                case 0x8f:         // EMPTY_DICT/LIST/TUPLE/SET
                    stack.Add(Other); break;
                case (byte)'a': Pop(); break;                                      // APPEND
                case (byte)'e': case (byte)'u': case 0x90: PopMark(); break;       // APPENDS, SETITEMS, ADDITEMS
                case (byte)'s': Pop(); Pop(); break;                               // SETITEM
                case (byte)'b': Pop(); break;                                      // BUILD (state popped, object stays)
                case (byte)'R': Pop(); Pop(); stack.Add(Other); break;             // REDUCE
                case 0x81: Pop(); Pop(); stack.Add(Other); break;                  // NEWOBJ
                case 0x92: Pop(); Pop(); Pop(); stack.Add(Other); break;           // NEWOBJ_EX
                case (byte)'t':
                case (byte)'l':
                case (byte)'d':
                case 0x91:         // TUPLE, LIST, DICT, FROZENSET
                    PopMark(); stack.Add(Other); break;
                case 0x85: Pop(); stack.Add(Other); break;                         // TUPLE1
                case 0x86: Pop(); Pop(); stack.Add(Other); break;                  // TUPLE2
                case 0x87: Pop(); Pop(); Pop(); stack.Add(Other); break;           // TUPLE3
                case (byte)'o': PopMark(); stack.Add(Other); break;                // OBJ (class is the first item after MARK)
                case (byte)'c':                                                    // GLOBAL module\nname\n
                case (byte)'i':                                                    // INST module\nname\n
                    {
                        var module = ReadLine(p);
                        var name = ReadLine(p);
                        AddGlobal(module, name);
                        if (op == (byte)'i') PopMark();
                        stack.Add(Other);
                        break;
                    }
                case 0x93:                                                         // STACK_GLOBAL
                    {
                        var name = Pop();
                        var module = Pop();
                        if (module is string m && name is string n) AddGlobal(m, n);
                        else found.Add("<STACK_GLOBAL with a computed module or name>");
                        stack.Add(Other);
                        break;
                    }
                case 0x82:
                case 0x83:
                case 0x84:                                   // EXT1/2/4: copyreg extension registry
                    found.Add("<copyreg extension code>");
                    return found;
                case (byte)'g': memo.TryGetValue(long.Parse(ReadLine(p).Trim()), out var gv); stack.Add(gv ?? Other); break; // GET
                case (byte)'h': { Need(1, i); memo.TryGetValue(p[i++], out var v); stack.Add(v ?? Other); break; }         // BINGET
                case (byte)'j': { memo.TryGetValue(U32(p), out var v); stack.Add(v ?? Other); break; }                     // LONG_BINGET
                case (byte)'p': memo[long.Parse(ReadLine(p).Trim())] = Top(); break;                                        // PUT
                case (byte)'q': Need(1, i); memo[p[i++]] = Top(); break;                                                    // BINPUT
                case (byte)'r': memo[U32(p)] = Top(); break;                                                                // LONG_BINPUT
                case 0x94: memo[memo.Count] = Top(); break;                                                                 // MEMOIZE
                case 0x80: Skip(1); break;                                          // PROTO
                case 0x95: Skip(8); break;                                          // FRAME (only a length hint)
                default: throw new FormatException($"unknown opcode 0x{op:x2} at byte {i - 1}");
            }
        }

        object Top() => stack.Count > 0 ? stack[^1] : throw new FormatException($"memo store on an empty stack at byte {i}");
    }
}
