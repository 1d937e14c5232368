using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>An indexed list of submodules registered as <c>0</c>, <c>1</c>, ... (HF's <c>layers.0</c> naming).</summary>
internal sealed class ModuleStack<T> : nn.Module where T : nn.Module
{
    private readonly T[] _items;

    public ModuleStack(string name, IEnumerable<T> items) : base(name)
    {
        _items = items.ToArray();
        for (int i = 0; i < _items.Length; i++) register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), _items[i]);
    }

    public int Count => _items.Length;
    public T this[int index] => _items[index];
}
