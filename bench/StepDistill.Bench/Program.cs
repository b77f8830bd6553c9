// Benchmarks (not tests): `dotnet run -c Release --project bench/StepDistill.Bench -- <suite> [options]`.
// Each suite prints its numbers; BENCHMARKS.md records them with the machine and the command.
var suites = new Dictionary<string, Func<string[], Task<int>>>(StringComparer.OrdinalIgnoreCase)
{
    // suites register here, one line each
    ["teacher-throughput"] = TeacherThroughput.RunAsync,
    ["student-throughput"] = StudentThroughput.Run,
    ["serve-throughput"] = ServeThroughput.RunAsync,
    ["decode-batch"] = a => Task.FromResult(DecodeBatch.Run(a)),
};
if (args.Length == 0 || !suites.TryGetValue(args[0], out var run))
{
    Console.Error.WriteLine($"usage: StepDistill.Bench <suite> [options]; suites: {string.Join(", ", suites.Keys)}");
    return 2;
}
return await run(args[1..]);
