using TorchSharp;
using static TorchSharp.torch;

namespace StepDistill.Student;

/// <summary>
/// Chooses where tensors live: <c>cpu</c>, <c>cuda</c> / <c>cuda:N</c>, or <c>auto</c> (CUDA when libtorch has it).
/// The CPU libtorch package is referenced by default; see README ("Running on a CUDA machine") to switch.
/// </summary>
public static class Devices
{
    /// <summary>The default device: CUDA when available, else the CPU.</summary>
    public const string Auto = "auto";

    /// <summary>The device a spec names; errors name the <c>Device</c> setting.</summary>
    public static Device Resolve(string? spec)
    {
        spec = string.IsNullOrWhiteSpace(spec) ? Auto : spec.Trim().ToLowerInvariant();
        if (spec == "cpu") return CPU;
        if (spec == Auto) return cuda.is_available() ? CUDA : CPU;
        if (spec == "cuda" || spec.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!cuda.is_available())
                throw StepDistillException.InvalidOption("Device", spec, "CUDA is not available (this build uses the CPU libtorch package, or no " +
                    "GPU/driver was found); use cpu or auto");
            return new Device(spec);
        }
        throw StepDistillException.InvalidOption("Device", spec, "expected cpu, cuda, cuda:N or auto");
    }

    /// <summary>Sets libtorch's intra-op threads (0 = leave libtorch's default).</summary>
    public static void SetThreads(int threads)
    {
        if (threads < 0) throw StepDistillException.InvalidOption("Threads", threads, "must be 0 (default) or more");
        if (threads > 0) set_num_threads(threads);
    }
}
