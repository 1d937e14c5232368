using Pardec.Runtime.Interpretation;

namespace Pardec.Runtime.Decoding;

/// <summary>A strategy compiled into an assembly by the generator: its name, its printed plan and a factory.</summary>
public sealed record GeneratedStrategy(
    string Name,
    string Plan,
    Func<ModelSet, IReadOnlyDictionary<string, string>?, int, IDecoder> Create);
