using BenchmarkDotNet.Running;

// Pick benchmarks from the command line, e.g. `--filter *GeneratorBenchmarks* --job Dry --inProcess`.
BenchmarkSwitcher.FromAssembly(typeof(Pardec.Benchmarks.GeneratorBenchmarks).Assembly).Run(args);
