namespace StepDistill.Student.Hub;

/// <summary>Progress of one file download, reported by <see cref="ModelResolver.ResolveAsync"/>.</summary>
/// <param name="RepoId">The model id, e.g. <c>google/flan-t5-small</c>.</param>
/// <param name="FileName">The file inside the repository, e.g. <c>model.safetensors</c>.</param>
/// <param name="BytesDone">Bytes of the file on disk so far (a resumed download starts above zero).</param>
/// <param name="TotalBytes">The file's size as the Hub reports it, when known.</param>
/// <param name="Completed">True once the file is verified and in the cache.</param>
public readonly record struct HubDownloadProgress(string RepoId, string FileName, long BytesDone, long? TotalBytes, bool Completed);
