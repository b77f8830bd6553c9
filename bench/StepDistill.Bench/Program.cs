// Benchmarks: `dotnet run -c Release --project bench/StepDistill.Bench -- <suite>`; results go to BENCHMARKS.md.
Console.Error.WriteLine("usage: StepDistill.Bench <suite>  (suites are added with their features)");
return 2;
