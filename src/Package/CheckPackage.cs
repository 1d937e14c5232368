// Checks a packed Pardec .nupkg the way the .NET runtime will resolve it in a consumer app. Run by Pardec.csproj after
// Pack (a file-based program, `dotnet run --file`; not compiled into the package):
//
//   1. every runtime PackageReference of the projects the package gathers is a dependency in the nuspec;
//   2. every assembly that an assembly in lib/ references is provided, at the referenced version or higher, by lib/ itself,
//      the target framework (Microsoft.NETCore.App), or the runtime assets of the package's dependency closure (read from
//      the package project's project.assets.json, starting at the nuspec's dependencies, so a package that only reaches
//      the build through a project reference does not count).
//
// Found this way once: Pardec.Runtime compiled against System.Numerics.Tensors 11.0.0.0, the nuspec did not declare the
// package, the shared framework carries 10.0.0.0, and consumer apps crashed with FileNotFoundException at their first
// draft-model step.
//
//   dotnet run --file CheckPackage.cs -- <package.nupkg> <project.assets.json> <tfm> <framework dirs;...> <expected ids;...>
//
// Prints errors in MSBuild's canonical format and exits 1 when a check fails.

using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.Json;
using System.Xml.Linq;

if (args.Length != 5)
{
    Console.Error.WriteLine("usage: CheckPackage.cs <package.nupkg> <project.assets.json> <tfm> <framework dirs;...> <expected package ids;...>");
    return 2;
}
string nupkg = args[0], assetsPath = args[1], tfm = args[2];
string[] frameworkDirs = Split(args[3]);
string[] expected = Split(args[4]);
var errors = new List<string>();
void Error(string message) => errors.Add($"{Path.GetFileName(nupkg)}: error PDECPKG: {message}");

using var zip = ZipFile.OpenRead(nupkg);

// The nuspec's dependencies for the package's framework.
var nuspecEntry = zip.Entries.Single(e => !e.FullName.Contains('/') && e.FullName.EndsWith(".nuspec", StringComparison.OrdinalIgnoreCase));
XDocument nuspec;
using (var s = nuspecEntry.Open()) nuspec = XDocument.Load(s);
var declared = nuspec.Descendants()
    .Where(e => e.Name.LocalName == "group" && string.Equals((string?)e.Attribute("targetFramework"), tfm, StringComparison.OrdinalIgnoreCase))
    .SelectMany(g => g.Elements().Where(d => d.Name.LocalName == "dependency"))
    .Select(d => (string)d.Attribute("id")!)
    .ToHashSet(StringComparer.OrdinalIgnoreCase);

// 1. Every runtime PackageReference of the gathered projects is declared.
foreach (var id in expected.Where(id => !declared.Contains(id)))
    Error($"the gathered projects reference the package '{id}' at run time, but the nuspec does not declare it as a dependency");

// The lib/ assemblies: their identities and references.
var libs = new List<(string Path, string Name, Version Version, List<(string Name, Version Version)> References)>();
foreach (var entry in zip.Entries.Where(e => e.FullName.StartsWith($"lib/{tfm}/", StringComparison.OrdinalIgnoreCase)
                                             && e.FullName.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)))
{
    using var buffer = new MemoryStream();
    using (var s = entry.Open()) s.CopyTo(buffer);
    buffer.Position = 0;
    using var pe = new PEReader(buffer);
    var md = pe.GetMetadataReader();
    var def = md.GetAssemblyDefinition();
    var refs = md.AssemblyReferences.Select(h => md.GetAssemblyReference(h)).Select(r => (md.GetString(r.Name), r.Version)).ToList();
    libs.Add((entry.FullName, md.GetString(def.Name), def.Version, refs));
}
if (libs.Count == 0) Error($"no assemblies under lib/{tfm}/");

// What a consumer has: name -> (highest version, where from).
var available = new Dictionary<string, (Version Version, string Source)>(StringComparer.OrdinalIgnoreCase);
void Offer(string name, Version version, string source)
{
    if (!available.TryGetValue(name, out var had) || had.Version < version) available[name] = (version, source);
}
foreach (var lib in libs) Offer(lib.Name, lib.Version, "the package's lib/");
foreach (var dir in frameworkDirs)
foreach (var dll in Directory.EnumerateFiles(dir, "*.dll"))
    if (Identity(dll) is { } id) Offer(id.Name, id.Version, "the framework");

// The dependency closure, as restore resolved it for the package project, starting from the nuspec's dependencies only.
using var assets = JsonDocument.Parse(File.ReadAllText(assetsPath));
var root = assets.RootElement;
var target = root.GetProperty("targets").EnumerateObject().First(t => !t.Name.Contains('/')).Value;
var entries = target.EnumerateObject()
    .Where(p => p.Value.TryGetProperty("type", out var type) && type.GetString() == "package")
    .ToDictionary(p => p.Name.Split('/')[0], p => (Key: p.Name, Value: p.Value), StringComparer.OrdinalIgnoreCase);
var libraries = root.GetProperty("libraries");
var folders = root.GetProperty("packageFolders").EnumerateObject().Select(p => p.Name).ToArray();
var closure = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
var queue = new Queue<string>(declared);
while (queue.TryDequeue(out var id))
{
    if (!closure.Add(id)) continue;
    if (!entries.TryGetValue(id, out var package))
    {
        Error($"the dependency '{id}' is not in the restore graph of the package project ({assetsPath})");
        continue;
    }
    if (package.Value.TryGetProperty("dependencies", out var deps))
        foreach (var dep in deps.EnumerateObject()) queue.Enqueue(dep.Name);
    string libraryPath = libraries.GetProperty(package.Key).GetProperty("path").GetString()!;
    string? folder = folders.FirstOrDefault(f => Directory.Exists(Path.Combine(f, libraryPath)));
    if (folder is null) continue; // not on this machine (never happens after restore); the reference check will say what is missing
    foreach (var group in new[] { "runtime", "runtimeTargets" })
    {
        if (!package.Value.TryGetProperty(group, out var assetsOfGroup)) continue;
        foreach (var asset in assetsOfGroup.EnumerateObject())
        {
            if (!asset.Name.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) continue;
            if (group == "runtimeTargets" && !(asset.Value.TryGetProperty("assetType", out var t) && t.GetString() == "runtime")) continue;
            string file = Path.Combine(folder, libraryPath, asset.Name);
            if (File.Exists(file) && Identity(file) is { } aid) Offer(aid.Name, aid.Version, $"the dependency {package.Key}");
        }
    }
}

// 2. Every reference of every lib/ assembly resolves.
int references = 0;
foreach (var lib in libs)
foreach (var (name, version) in lib.References)
{
    references++;
    if (!available.TryGetValue(name, out var have))
        Error($"{lib.Path} references {name} {version}, which neither the package, its dependencies ({string.Join(", ", declared.Order())}) nor the framework provide");
    else if (have.Version < version)
        Error($"{lib.Path} references {name} {version}, but the highest a consumer gets is {have.Version} from {have.Source}: "
              + "declare the package that provides it as a dependency");
}

foreach (var e in errors) Console.WriteLine(e);
if (errors.Count > 0) return 1;
Console.WriteLine($"{Path.GetFileName(nupkg)}: {libs.Count} lib assemblies, {references} references, all provided by lib/, the framework "
                  + $"or the {declared.Count} dependencies ({string.Join(", ", declared.Order())}; {closure.Count} packages with their own dependencies)");
return 0;

static string[] Split(string list) => list.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

static (string Name, Version Version)? Identity(string path)
{
    try
    {
        using var pe = new PEReader(File.OpenRead(path));
        if (!pe.HasMetadata) return null;
        var md = pe.GetMetadataReader();
        if (!md.IsAssembly) return null;
        var def = md.GetAssemblyDefinition();
        return (md.GetString(def.Name), def.Version);
    }
    catch (BadImageFormatException)
    {
        return null; // a native library named .dll
    }
}
