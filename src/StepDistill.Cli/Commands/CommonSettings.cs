using System.ComponentModel;
using Spectre.Console.Cli;
using StepDistill.Student;
using TorchSharp;

namespace StepDistill.Cli.Commands;

/// <summary>Options every model-running verb takes.</summary>
internal abstract class CommonSettings : CommandSettings
{
    [CommandOption("--device <DEVICE>")]
    [Description("cpu, cuda, cuda:N or auto (default: auto = CUDA when available).")]
    [DefaultValue("auto")]
    public string Device { get; init; } = "auto";

    [CommandOption("--threads <N>")]
    [Description("CPU threads for libtorch (0 = libtorch's default).")]
    [DefaultValue(0)]
    public int Threads { get; init; }

    /// <summary>Applies the device and thread settings; returns the device.</summary>
    public torch.Device Apply()
    {
        Devices.SetThreads(Threads);
        return Devices.Resolve(Device);
    }
}
