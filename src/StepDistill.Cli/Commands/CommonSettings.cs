using System.ComponentModel;
using Spectre.Console.Cli;
using StepDistill.Cli.Options;
using StepDistill.Student;
using TorchSharp;

namespace StepDistill.Cli.Commands;

/// <summary>Options every model-running verb takes.</summary>
internal abstract class CommonSettings : CommandSettings
{
    // Nullable: unset, the library's default applies (for train, also the one an options file carries).
    [CommandOption("--device <DEVICE>")]
    [Description("cpu, cuda, cuda:N or auto (CUDA when available). Default " + Devices.Auto + ".")]
    public string? Device { get; init; }

    [CommandOption("--threads <N>")]
    [Description("CPU threads for libtorch (0 = libtorch's default). Default 0.")]
    public int? Threads { get; init; }

    /// <summary>Applies the device and thread settings; returns the device.</summary>
    public torch.Device Apply() => OptionBinding.Translate(GetType(), () =>
    {
        Devices.SetThreads(Threads ?? 0);
        return Devices.Resolve(Device ?? Devices.Auto);
    });
}
