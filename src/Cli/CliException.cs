namespace Pardec.Cli;

/// <summary>A problem the user can fix (a name, a path, a value): printed as one line on stderr, never as a stack trace.</summary>
public sealed class CliException(string message) : Exception(message);
