namespace Pardec.Training;

/// <summary>
/// A problem the user can fix (missing corpus, tokenizer that does not fit the model, bad option). The tool prints
/// only the message and exits non-zero: a stack trace would bury the file name the message leads with.
/// </summary>
public sealed class TrainingException(string message, Exception? inner = null) : Exception(message, inner);
