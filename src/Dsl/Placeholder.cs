namespace Pardec.Dsl { internal static class Placeholder { } }
