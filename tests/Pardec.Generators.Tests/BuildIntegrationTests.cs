using System.Diagnostics;

namespace Pardec.Generators.Tests;

/// <summary>The generator as a consuming project sees it, through `dotnet build`. Slow (a real build), so only one.</summary>
public sealed class BuildIntegrationTests
{
    [Fact]
    public async Task Dotnet_build_with_a_broken_pdec_prints_its_file_line_and_column_and_fails()
    {
        var dir = Directory.CreateTempSubdirectory("pardec-build-");
        try
        {
            string root = GeneratorHarness.RepoRoot;
            File.WriteAllText(Path.Combine(dir.FullName, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                  </PropertyGroup>
                  <ItemGroup>
                    <AdditionalFiles Include="strategies/*.pdec" />
                    <ProjectReference Include="{root}/src/Runtime/Pardec.Runtime.csproj" />
                    <ProjectReference Include="{root}/src/Generators/Pardec.Generators.csproj" OutputItemType="Analyzer" ReferenceOutputAssembly="false" />
                  </ItemGroup>
                </Project>
                """);
            Directory.CreateDirectory(Path.Combine(dir.FullName, "strategies"));
            File.WriteAllText(Path.Combine(dir.FullName, "strategies", "x.pdec"), """
                strategy X
                  guarantee lossless
                  canvas causal
                  model target: causal
                  step
                    propose lookup(max_ngram: 3, length: 10)
                    verify targt
                    accept greedy
                end
                """);

            // The referenced projects were built with this test project; building them again would only cost time.
            var start = new ProcessStartInfo("dotnet", "build Consumer.csproj -p:BuildProjectReferences=false -nodeReuse:false -m:1 -nologo")
            {
                WorkingDirectory = dir.FullName,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            start.Environment["DOTNET_NOLOGO"] = "1";
            start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            string output = await process.StandardOutput.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await process.WaitForExitAsync(timeout.Token);
            output += await stderr;

            Assert.NotEqual(0, process.ExitCode);
            Assert.Matches(@"strategies/x\.pdec\(7,12\): error PDEC1003: [^\r\n]*'targt'", output);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
