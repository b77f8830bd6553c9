using System.ComponentModel;
using Spectre.Console.Cli;
using StepDistill.Cli.Options;
using StepDistill.Evaluation;
using StepDistill.Student;
using TorchSharp;

namespace StepDistill.Cli.Commands;

/// <summary>
/// <c>--threads</c>, the one option every verb that computes takes: libtorch's threads for a student, llama.cpp's for a
/// gguf teacher (<c>annotate</c>).
/// </summary>
internal abstract class ThreadsSettings : CommandSettings
{
    // Nullable: unset, the library's default applies (for train, also the one an options file carries).
    [CommandOption("--threads <N>")]
    [Description("CPU threads (libtorch's for a student, llama.cpp's for a gguf teacher; 0 = the library's default). Default 0.")]
    public int? Threads { get; init; }
}

/// <summary>Options every model-running verb takes: <c>--device</c> and <c>--threads</c>.</summary>
internal abstract class CommonSettings : ThreadsSettings
{
    [CommandOption("--device <DEVICE>")]
    [Description("cpu, cuda, cuda:N or auto (CUDA when available). Default " + Devices.Auto + ".")]
    public string? Device { get; init; }

    /// <summary>Applies the device and thread settings; returns the device.</summary>
    public torch.Device Apply() => OptionBinding.Translate(GetType(), () =>
    {
        Devices.SetThreads(Threads ?? 0);
        return Devices.Resolve(Device ?? Devices.Auto);
    });

    /// <summary>Parses a <c>--metric</c> value the one way (errors name this verb's flag).</summary>
    public MetricKind? ParseMetric(string? metric) =>
        metric is null ? null : OptionBinding.Translate(GetType(), () => OptionParsers.Metric(metric));
}
