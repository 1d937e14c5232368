using System.Text;

namespace Pardec.Runtime.Decoding;

/// <summary>Stop-string detection over incrementally decoded text, shared by every text-producing decoder.</summary>
public static class StopStrings
{
    /// <summary>
    /// The earliest position where one of <paramref name="stops"/> occurs in <paramref name="text"/>, looking only where a
    /// match can be new: in the text appended from <paramref name="appendedFrom"/> on, or straddling that point.
    /// </summary>
    public static int? Find(StringBuilder text, int appendedFrom, IReadOnlyList<string> stops)
    {
        if (appendedFrom >= text.Length || stops.Count == 0) return null;
        int best = -1;
        foreach (var stop in stops)
        {
            if (stop.Length == 0) continue;
            int from = Math.Max(0, appendedFrom - stop.Length + 1);
            int at = text.ToString(from, text.Length - from).IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || from + at < best)) best = from + at;
        }
        return best >= 0 ? best : null;
    }
}
