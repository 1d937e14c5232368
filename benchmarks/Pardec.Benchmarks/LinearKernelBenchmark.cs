using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Pardec.Runtime.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Benchmarks;

/// <summary>
/// <c>linear-kernels</c>: one f32 linear <c>[M, in] x [out, in]^T</c> at decode (M = 1) and verification (M = 4, 11) sizes,
/// by the CPU paths at hand: libtorch's <c>torch.linear</c> (MKL sgemv/sgemm on the [out, in] weight), <c>torch.mm</c> on the
/// weight stored transposed [in, out] (the other layout), and Pardec's <see cref="RowInvariantLinear"/>. MKL's prepacked
/// <c>mkl::_mkl_linear</c> and oneDNN's <c>mkldnn::_linear_pointwise</c> are registered in this libtorch but out of reach:
/// TorchSharp wraps neither, and its TorchScript string compiler resolves no <c>torch.ops.*</c> namespace ("attribute lookup
/// is not defined on builtin", raised as an uncatchable native abort). Each weight is one of enough copies to exceed the last-level cache (a decode
/// reads every layer's weights from memory once), so GB/s = weight bytes / time is comparable with the read bandwidth
/// measured in the same run. Also checks whether each path is row-count invariant (row r of an M-row product has the
/// same bits as row r multiplied alone) and its largest difference from a float64 product.
/// </summary>
internal static class LinearKernelBenchmark
{
    private sealed record Row(string Shape, int M, string Method, double Microseconds, double WeightGBs, double FractionOfBandwidth,
                              bool RowInvariant, double MaxAbsErrorVsF64, double RelErrorVsF64, string? Error);

    public static int Run(string[] args)
    {
        string outPath = Path.Combine(StrategyBenchmark.RepoRoot(), "benchmarks", "results", "linear-kernels");
        var shapes = new List<(int In, int Out)> { (1024, 4096), (2048, 8192), (256, 8192), (8192, 256) };
        int[] ms = [1, 4, 11];
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--out") outPath = args[++i];
            else if (args[i] == "--m") ms = args[++i].Split(',').Select(int.Parse).ToArray();
            else { Console.Error.WriteLine($"unknown option {args[i]}; usage: linear-kernels [--m 1,4,11] [--out PATH]"); return 2; }
        }
        torch.set_num_threads(1);
        var (managedBw, torchBw) = QuantizedDecodeBenchmark.ReadBandwidth();
        double bandwidth = Math.Max(managedBw, torchBw);
        Console.WriteLine($"read bandwidth, 1 thread: {bandwidth:F1} GB/s; CPU {Machine.Cpu}; Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}");
        var rows = new List<Row>();
        foreach (var (inF, outF) in shapes)
        {
            // Copies of the weight totalling at least 512 MB, cycled, so every call reads its weight from memory.
            long bytes = (long)inF * outF * 4;
            int copies = (int)Math.Max(2, (512L << 20) / bytes);
            using var scope = NewDisposeScope();
            var gen = new Generator(7);
            var weights = Enumerable.Range(0, copies).Select(_ => torch.randn([outF, inF], ScalarType.Float32, generator: gen).mul_(0.02)).ToArray();
            foreach (int m in ms)
            {
                var x = torch.randn([m, inF], ScalarType.Float32, generator: gen);
                using var reference = torch.nn.functional.linear(x.to_type(ScalarType.Float64), weights[0].to_type(ScalarType.Float64));
                var methods = new List<(string Name, Func<Tensor, int, Tensor> Run)>
                {
                    ("torch.linear", (xx, k) => torch.nn.functional.linear(xx, weights[k])),
                    ("RowInvariantLinear (managed)", (xx, k) => RowInvariantLinear.Forward(xx, weights[k])),
                };
                // The other layout: W^T stored [in, out] contiguous (MKL's sgemm then reads it row-major, no transpose flag).
                var transposed = weights.Select(w => w.t().contiguous()).ToArray();
                methods.Insert(1, ("torch.mm, weight stored [in, out]", (xx, k) => torch.mm(xx, transposed[k])));
                foreach (var (name, run) in methods)
                {
                    try { rows.Add(Measure($"{inF}->{outF}", m, name, run, x, reference, copies, bytes, bandwidth)); }
                    catch (Exception e) { rows.Add(new Row($"{inF}->{outF}", m, name, 0, 0, 0, false, 0, 0, Short(e))); }
                    var r = rows[^1];
                    Console.WriteLine(r.Error is null
                        ? $"  {r.Shape,-10} M={m,-3} {name,-30} {r.Microseconds,9:F1} us  {r.WeightGBs,5:F1} GB/s ({100 * r.FractionOfBandwidth:F0} %)  row-invariant {r.RowInvariant}  max |err| vs f64 {r.MaxAbsErrorVsF64:E2}"
                        : $"  {r.Shape,-10} M={m,-3} {name,-30} failed: {r.Error}");
                }
            }
        }
        Write(outPath, rows, managedBw, torchBw, bandwidth, args);
        return 0;
    }

    private static string Short(Exception e) => e.Message.Split('\n')[0];

    private static Row Measure(string shape, int m, string name, Func<Tensor, int, Tensor> run, Tensor x, Tensor reference, int copies, long bytes, double bandwidth)
    {
        // Correctness first: the M-row product, each row alone, and the float64 product.
        using var all = run(x, 0);
        bool invariant = true;
        for (int r = 0; r < m; r++)
        {
            using var alone = run(x.narrow(0, r, 1), 0);
            using var row = all.narrow(0, r, 1);
            using var eq = row.eq(alone).all();
            invariant &= eq.item<bool>();
        }
        using var diff = all.to_type(ScalarType.Float64).sub(reference).abs();
        double maxAbs = diff.max().item<double>();
        double rel = maxAbs / reference.abs().max().item<double>();
        // Then time: cycle the copies; best of 5 batches of calls taking ~0.15 s each.
        for (int k = 0; k < copies; k++) run(x, k).Dispose();
        int calls = Math.Max(copies, (int)(0.15 / Math.Max(bytes / (bandwidth * 1e9), 1e-6)));
        double best = double.MaxValue;
        for (int rep = 0; rep < 5; rep++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int c = 0; c < calls; c++) run(x, c % copies).Dispose();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds / calls);
        }
        double gbs = bytes / best / 1e9;
        return new Row(shape, m, name, best * 1e6, gbs, gbs / bandwidth, invariant, maxAbs, rel, null);
    }

    private static void Write(string outPath, List<Row> rows, double managed, double viaTorch, double bandwidth, string[] args)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        string command = "dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- linear-kernels" + (args.Length > 0 ? " " + string.Join(' ', args) : "");
        var json = new
        {
            command, date = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture), cpu = Machine.Cpu, load = File.ReadAllText("/proc/loadavg").Trim(),
            threads = 1, readBandwidthGBs = new { tensorPrimitivesSum = managed, torchSum = viaTorch, used = bandwidth }, rows,
        };
        File.WriteAllText(outPath + ".json", JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
        var md = new StringBuilder();
        md.AppendLine("# One f32 linear at decode and verification sizes: libtorch's CPU paths and Pardec's kernel");
        md.AppendLine();
        md.AppendLine($"`{command}` — {json.date}, CPU: {Machine.Cpu}, one thread, load average at the end `{json.load}`.");
        md.AppendLine($"Read bandwidth, one thread, best of 5 reads of 1 GiB: {managed:F1} GB/s (`TensorPrimitives.Sum`), {viaTorch:F1} GB/s (`torch.sum`); {bandwidth:F1} GB/s is the denominator.");
        md.AppendLine("Each weight is one of enough copies to total 512 MB, cycled, so it comes from memory as in a decode; time = best of 5 batches of ~0.15 s.");
        md.AppendLine("Row-invariant: every row of the M-row product has the same bits as that row multiplied alone. Error: largest |y - y_f64| over the outputs (relative: over the largest |y_f64|).");
        md.AppendLine();
        md.AppendLine("| in -> out | M | method | us / call | weight GB/s | fraction of bandwidth | row-count invariant | max abs error vs f64 (relative) |");
        md.AppendLine("| --- | ---: | --- | ---: | ---: | ---: | --- | --- |");
        foreach (var r in rows)
            md.AppendLine(r.Error is not null
                ? $"| {r.Shape} | {r.M} | {r.Method} | failed: {r.Error} | | | | |"
                : string.Create(CultureInfo.InvariantCulture, $"| {r.Shape} | {r.M} | {r.Method} | {r.Microseconds:F1} | {r.WeightGBs:F1} | {100 * r.FractionOfBandwidth:F0} % | {(r.RowInvariant ? "yes" : "no")} | {r.MaxAbsErrorVsF64:E2} ({r.RelErrorVsF64:E1}) |"));
        File.WriteAllText(outPath + ".md", md.ToString());
        Console.WriteLine($"wrote {outPath}.md/.json");
    }
}
