[assembly: CollectionBehavior(DisableTestParallelization = true)] // tests swap Console.Error
