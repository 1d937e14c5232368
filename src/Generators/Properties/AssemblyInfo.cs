using System.Runtime.CompilerServices;

// The benchmark times the emitter directly (PdecCompiler.Compile + Emit per file), without a Roslyn driver around it.
[assembly: InternalsVisibleTo("Pardec.Benchmarks")]

// The toy-primitive test emits a plan compiled with a primitive library the generator's pipeline does not know.
[assembly: InternalsVisibleTo("Pardec.Generators.Tests")]
