namespace Pardec.Runtime.Loading;

/// <summary>
/// Why a model directory could not be loaded. The message always names the file and, when there is one,
/// the tensor or config field at fault, so a user can fix the checkpoint without a debugger.
/// </summary>
public sealed class ModelLoadException : Exception
{
    /// <summary>The file at fault (or the directory when a whole file is missing).</summary>
    public string FilePath { get; }
    /// <summary>The tensor name or config field at fault, if any.</summary>
    public string? Item { get; }

    public ModelLoadException(string filePath, string? item, string reason, Exception? inner = null)
        : base(Format(filePath, item, reason), inner)
    {
        FilePath = filePath;
        Item = item;
    }

    private static string Format(string filePath, string? item, string reason) =>
        item is null ? $"{filePath}: {reason}" : $"{filePath}: '{item}': {reason}";
}
