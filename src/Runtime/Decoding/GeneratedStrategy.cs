using Pardec.Runtime.Interpretation;

namespace Pardec.Runtime.Decoding;

/// <summary>A strategy compiled into an assembly by the generator: its name, its printed plan and a factory.</summary>
/// <param name="ReadFile">The files the plan names (a constraint's schema or grammar), as they were read at build time:
/// pass it to <c>PdecCompiler.Compile(Plan, readFile: ...)</c> to compile the printed plan again; null when it names none.</param>
public sealed record GeneratedStrategy(
    string Name,
    string Plan,
    Func<ModelSet, IReadOnlyDictionary<string, string>?, int, IDecoder> Create,
    Func<string, string?>? ReadFile = null);
