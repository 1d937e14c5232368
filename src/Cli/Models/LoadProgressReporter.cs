using System.Globalization;
using Pardec.Runtime.Loading;

namespace Pardec.Cli.Models;

/// <summary>
/// Loading progress on stderr for checkpoints big enough to take a while (over 256 MB of weights): one line per 10 %
/// when stderr is redirected, or a line rewritten in place on a terminal.
/// </summary>
internal sealed class LoadProgressReporter(TextWriter writer, string directory) : IProgress<LoadProgress>
{
    private const long Threshold = 256L << 20;
    private int _lastDecile = -1;
    private readonly bool _terminal = ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected;

    public static IProgress<LoadProgress>? For(TextWriter? writer, string directory)
    {
        if (writer is null) return null;
        long bytes = Directory.Exists(directory) ? Directory.EnumerateFiles(directory, "*.safetensors").Sum(f => new FileInfo(f).Length) : 0;
        return bytes >= Threshold ? new LoadProgressReporter(writer, directory) : null;
    }

    public void Report(LoadProgress p)
    {
        int decile = p.TotalBytes == 0 ? 10 : (int)(p.Bytes * 10 / p.TotalBytes);
        if (!_terminal && decile == _lastDecile) return;
        _lastDecile = decile;
        string line = string.Create(CultureInfo.InvariantCulture,
            $"loading {directory}: {p.Bytes / 1e6:F0}/{p.TotalBytes / 1e6:F0} MB, {p.Tensors}/{p.TotalTensors} tensors ({Path.GetFileName(p.File)})");
        if (_terminal) { writer.Write("\r" + line); if (p.Tensors == p.TotalTensors) writer.WriteLine(); }
        else writer.WriteLine(line);
    }
}
