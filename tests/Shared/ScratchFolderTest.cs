namespace StepDistill.Tests;

/// <summary>
/// The base of test classes that need a scratch folder: xunit makes one instance per test, so each test gets its own
/// <see cref="dir"/>, deleted (best effort) afterwards.
/// </summary>
public abstract class ScratchFolderTest : IDisposable
{
    readonly TempDir temp = new();

    /// <summary>This test's scratch folder.</summary>
    protected string dir => temp.Path;

    public void Dispose()
    {
        temp.Dispose();
        GC.SuppressFinalize(this);
    }
}
