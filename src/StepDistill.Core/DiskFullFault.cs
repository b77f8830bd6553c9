namespace StepDistill;

/// <summary>
/// Test-only fault seam: with <c>STEPDISTILL_FAULT_ENOSPC=1</c> in the environment, every write through the file
/// helper fails as a full disk does (an <see cref="IOException"/> with ENOSPC's code) before any byte is written.
/// Unset (every normal run), it costs one environment lookup per file written.
/// </summary>
internal static class DiskFullFault
{
    const string Variable = "STEPDISTILL_FAULT_ENOSPC";
    /// <summary>ENOSPC on Linux; .NET reports the errno as the exception's HResult there.</summary>
    internal const int Enospc = 28;

    public static void ThrowIfSet(string path)
    {
        if (Environment.GetEnvironmentVariable(Variable) == "1")
            throw new IOException($"No space left on device : '{path}'", Enospc);
    }

    /// <summary>Whether <paramref name="e"/> says the disk (or quota) is full.</summary>
    public static bool IsDiskFull(IOException e) =>
        e.HResult is Enospc or 122 /* EDQUOT */ or unchecked((int)0x80070070) /* ERROR_DISK_FULL */ or unchecked((int)0x80070027) /* ERROR_HANDLE_DISK_FULL */;
}
