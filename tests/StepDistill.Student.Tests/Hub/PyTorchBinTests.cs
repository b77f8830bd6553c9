using System.IO.Compression;
using System.Text;
using System.Text.Json;
using StepDistill.Student.Checkpoint;
using StepDistill.Tests;
using TorchSharp;

namespace StepDistill.Student.Tests.Hub;

// Console.Out is swapped in one test; keep the class's tests from running beside each other.
[Collection("console")]
public class PyTorchBinTests
{
    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void The_fixture_bin_loads_bit_identical_to_its_safetensors_twin()
    {
        var bin = Path.Combine(SharedData.Require("fixtures/t5/t5-tiny-v1_1-bin"), "pytorch_model.bin");
        var reference = ReadSafetensors(Path.Combine(SharedData.Require("fixtures/t5/t5-tiny-v1_1"), "model.safetensors"));

        var tensors = PyTorchBin.Load(bin);
        try
        {
            // Every stored name plus the two tied aliases the .bin carries.
            Assert.Equal(reference.Count + 2, tensors.Count);
            foreach (var (name, (shape, data)) in reference)
            {
                Assert.True(tensors.TryGetValue(name, out var t), $"missing {name}");
                Assert.Equal(torch.ScalarType.Float32, t!.dtype);
                Assert.Equal(shape, t.shape);
                Assert.True(data.AsSpan().SequenceEqual(t.contiguous().bytes), $"{name} differs");
            }
            var shared = reference["shared.weight"].Data;
            foreach (var alias in new[] { "encoder.embed_tokens.weight", "decoder.embed_tokens.weight" })
                Assert.True(shared.AsSpan().SequenceEqual(tensors[alias].contiguous().bytes), $"{alias} differs from shared.weight");
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    [Trait("Category", "SharedData")]
    [SkippableFact]
    public void The_malicious_fixture_is_refused_and_its_payload_never_runs()
    {
        var path = Path.Combine(SharedData.Require("fixtures/t5/t5-tiny-v1_1-bin"), "malicious.bin");
        var original = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        StepDistillException? error;
        try
        {
            error = Assert.Throws<StepDistillException>(() => PyTorchBin.Load(path));
        }
        finally
        {
            Console.SetOut(original);
        }
        Assert.Contains(path, error.Message);
        Assert.Contains("builtins.print", error.Message);
        Assert.DoesNotContain("UNSAFE-PICKLE-EXECUTED", captured.ToString());
        Assert.DoesNotContain("UNSAFE-PICKLE-EXECUTED", error.ToString());
    }

    [Fact]
    public void A_state_dict_written_by_pybridge_round_trips()
    {
        using var tmp = new TempDir();
        var path = Path.Combine(tmp.Path, "pytorch_model.bin");
        var a = torch.arange(12, dtype: torch.float32).reshape(3, 4);
        var b = torch.tensor(new long[] { 5, -7, 9 });
        TorchSharp.PyBridge.PyTorchPickler.PickleStateDict(path, new Dictionary<string, torch.Tensor> { ["a.weight"] = a, ["b.ids"] = b });

        var loaded = PyTorchBin.Load(path);

        Assert.Equal(["a.weight", "b.ids"], loaded.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([3L, 4L], loaded["a.weight"].shape);
        Assert.Equal(a.bytes.ToArray(), loaded["a.weight"].bytes.ToArray());
        Assert.Equal(torch.ScalarType.Int64, loaded["b.ids"].dtype);
        Assert.Equal(new long[] { 5, -7, 9 }, loaded["b.ids"].data<long>().ToArray());
    }

    [Fact]
    public void A_pickle_calling_os_system_is_refused_naming_file_and_global()
    {
        using var tmp = new TempDir();
        var path = WriteCheckpoint(tmp.Path, Pickle(2, G("posix", "system"), X("touch /tmp/pwned"), 0x85, (byte)'R', (byte)'.'));

        var error = Assert.Throws<StepDistillException>(() => PyTorchBin.Load(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("'posix.system'", error.Message);
        Assert.Contains("archive/data.pkl", error.Message);
    }

    [Fact]
    public void Allowed_globals_pass_the_scan()
    {
        var pickle = Pickle(2, G("collections", "OrderedDict"), (byte)')', (byte)'R', G("torch._utils", "_rebuild_tensor_v2"),
            (byte)'0', G("torch", "FloatStorage"), (byte)'0', (byte)'.');
        Assert.Equal(["collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.FloatStorage"],
            PickleGlobalScanner.Globals(pickle));
        Assert.Null(PickleGlobalScanner.FindDisallowed(pickle));
    }

    [Fact]
    public void Stack_global_is_checked_against_what_is_really_on_the_stack()
    {
        // Pushes builtins/eval, then an allowed pair, pops the allowed pair: STACK_GLOBAL gets builtins.eval.
        var trick = Pickle(4, U("builtins"), U("eval"), U("collections"), U("OrderedDict"), (byte)'0', (byte)'0', 0x93, (byte)'.');
        Assert.Equal("builtins.eval", PickleGlobalScanner.FindDisallowed(trick));

        // Module and name fetched from the memo.
        var memo = Pickle(4, U("os"), 0x94, (byte)'0', U("system"), 0x94, (byte)'0', (byte)'h', 0, (byte)'h', 1, 0x93, (byte)'.');
        Assert.Equal("os.system", PickleGlobalScanner.FindDisallowed(memo));

        // A name computed at load time cannot be checked, so it is refused.
        var computed = Pickle(4, U("os"), (byte)')', 0x93, (byte)'.');
        Assert.StartsWith("<STACK_GLOBAL", PickleGlobalScanner.FindDisallowed(computed));
    }

    [Fact]
    public void Inst_and_extension_codes_are_refused()
    {
        Assert.Equal("subprocess.Popen", PickleGlobalScanner.FindDisallowed(
            Pickle(0, (byte)'(', (byte)'i', Encoding.ASCII.GetBytes("subprocess\nPopen\n"), (byte)'.')));
        Assert.Equal("<copyreg extension code>", PickleGlobalScanner.FindDisallowed(Pickle(2, 0x82, 1, (byte)'.')));
    }

    [Fact]
    public void Malformed_and_non_zip_files_give_clear_errors()
    {
        using var tmp = new TempDir();
        var truncated = WriteCheckpoint(tmp.Path, Pickle(2, (byte)'X', 0xff, 0, 0, 0, (byte)'a'));
        var e1 = Assert.Throws<StepDistillException>(() => PyTorchBin.Load(truncated));
        Assert.Contains("malformed pickle", e1.Message);

        var legacy = Path.Combine(tmp.Path, "legacy.bin");
        File.WriteAllBytes(legacy, Pickle(2, (byte)'K', 1, (byte)'.'));
        var e2 = Assert.Throws<StepDistillException>(() => PyTorchBin.Load(legacy));
        Assert.Contains(legacy, e2.Message);
        Assert.Contains("not a zip-format PyTorch checkpoint", e2.Message);

        var missing = Path.Combine(tmp.Path, "nope.bin");
        Assert.Contains("file not found", Assert.Throws<StepDistillException>(() => PyTorchBin.Load(missing)).Message);
    }

    // ---- helpers: hand-assembled pickles, a zip like torch.save's, a tiny safetensors reader ----

    static byte[] Pickle(int protocol, params object[] parts)
    {
        var bytes = new List<byte>();
        if (protocol >= 2) bytes.AddRange([0x80, (byte)protocol]);
        foreach (var part in parts)
        {
            if (part is byte[] arr) bytes.AddRange(arr);
            else bytes.Add(Convert.ToByte(part));
        }
        return [.. bytes];
    }

    static byte[] G(string module, string name) => Encoding.ASCII.GetBytes($"c{module}\n{name}\n");
    static byte[] U(string s) => [0x8c, (byte)s.Length, .. Encoding.UTF8.GetBytes(s)];
    static byte[] X(string s) => [(byte)'X', .. BitConverter.GetBytes(s.Length), .. Encoding.UTF8.GetBytes(s)];

    static string WriteCheckpoint(string dir, byte[] pickle)
    {
        var path = Path.Combine(dir, "pytorch_model.bin");
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        using (var s = zip.CreateEntry("archive/data.pkl", CompressionLevel.NoCompression).Open()) s.Write(pickle);
        using (var s = zip.CreateEntry("archive/version").Open()) s.Write("3\n"u8);
        return path;
    }

    static Dictionary<string, (long[] Shape, byte[] Data)> ReadSafetensors(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BitConverter.ToUInt64(bytes, 0);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, headerLength));
        var result = new Dictionary<string, (long[], byte[])>();
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__") continue;
            Assert.Equal("F32", entry.Value.GetProperty("dtype").GetString());
            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(o => (int)o.GetInt64()).ToArray();
            result[entry.Name] = (shape, bytes[(8 + headerLength + offsets[0])..(8 + headerLength + offsets[1])]);
        }
        return result;
    }
}
