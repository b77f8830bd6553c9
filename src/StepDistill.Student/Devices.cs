using TorchSharp;
using static TorchSharp.torch;

namespace StepDistill.Student;

/// <summary>
/// Chooses where tensors live: <c>cpu</c>, <c>cuda</c> / <c>cuda:N</c>, or <c>auto</c> (CUDA when libtorch has it).
/// The CPU libtorch package is referenced by default; see README ("Running on a CUDA machine") to switch.
/// </summary>
public static class Devices
{
    public static Device Resolve(string? spec)
    {
        spec = string.IsNullOrWhiteSpace(spec) ? "auto" : spec.Trim().ToLowerInvariant();
        if (spec == "cpu") return CPU;
        if (spec == "auto") return cuda.is_available() ? CUDA : CPU;
        if (spec == "cuda" || spec.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!cuda.is_available())
                throw new StepDistillException($"--device {spec}: CUDA is not available (this build uses the CPU libtorch package, or no GPU/driver was found); use --device cpu or auto");
            return new Device(spec);
        }
        throw new StepDistillException($"--device {spec}: expected cpu, cuda, cuda:N or auto");
    }

    /// <summary>Sets libtorch's intra-op threads (0 = leave libtorch's default).</summary>
    public static void SetThreads(int threads)
    {
        if (threads < 0) throw new StepDistillException($"--threads {threads}: must be 0 (default) or more");
        if (threads > 0) set_num_threads(threads);
    }
}
