using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;

namespace Pardec.Dsl.Collections;

/// <summary>
/// An immutable array with value equality (element by element). Records holding collections use it
/// so that two plans built from the same text compare equal — the generator's incremental cache
/// depends on that. Backed by a private array copied on construction, so no System.Collections.Immutable
/// dependency is needed on netstandard2.0 (the generator links this code next to Roslyn's own copy).
/// </summary>
public readonly struct EquatableArray<T> : IEquatable<EquatableArray<T>>, IReadOnlyList<T>
{
    private readonly T[]? _items;

    public EquatableArray(IEnumerable<T> items) => _items = items.ToArray();

    public static EquatableArray<T> Empty => default;

    public int Count => _items?.Length ?? 0;

    public bool IsEmpty => Count == 0;

    public T this[int index] => (_items ?? Array.Empty<T>())[index];

    public static implicit operator EquatableArray<T>(T[] items) => new(items);

    public static implicit operator EquatableArray<T>(List<T> items) => new(items);

    public static bool operator ==(EquatableArray<T> left, EquatableArray<T> right) => left.Equals(right);

    public static bool operator !=(EquatableArray<T> left, EquatableArray<T> right) => !left.Equals(right);

    public T[] ToArray() => (T[])(_items ?? Array.Empty<T>()).Clone();

    public bool Equals(EquatableArray<T> other)
    {
        T[] a = _items ?? Array.Empty<T>();
        T[] b = other._items ?? Array.Empty<T>();
        return a.SequenceEqual(b, EqualityComparer<T>.Default);
    }

    public override bool Equals(object? obj) => obj is EquatableArray<T> other && Equals(other);

    public override int GetHashCode()
    {
        unchecked
        {
            int hash = 17;
            foreach (T item in _items ?? Array.Empty<T>())
            {
                hash = (hash * 31) + (item is null ? 0 : EqualityComparer<T>.Default.GetHashCode(item));
            }

            return hash;
        }
    }

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)(_items ?? Array.Empty<T>())).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => "[" + string.Join(", ", this) + "]";
}

public static class EquatableArray
{
    public static EquatableArray<T> Create<T>(params T[] items) => new(items);

    public static EquatableArray<T> ToEquatableArray<T>(this IEnumerable<T> items) => new(items);
}
