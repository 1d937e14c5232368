using System.Runtime.CompilerServices;

// The benchmark times the emitter directly (PdecCompiler.Compile + Emit per file), without a Roslyn driver around it.
[assembly: InternalsVisibleTo("Pardec.Benchmarks")]
