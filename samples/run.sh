#!/usr/bin/env bash
# Builds and runs samples/Pardec.Sample the way an app outside this repo would use Pardec:
#   1. packs src/Package/Pardec.csproj (Pardec 0.1.0) into the local folder feed samples/.feed;
#   2. restores the sample into a fresh, empty packages folder, so a stale Pardec 0.1.0 from an earlier run can never be
#      used (every other package is taken from the user's global packages folder as a fallback: no re-download of libtorch);
#   3. checks that the restored Pardec is byte-identical to the one just packed;
#   4. builds and runs the sample: one strategy of every family (draft model, staged draft, token tree, Medusa heads, n-gram pool,
#      prompt lookup, masked canvas, batched) and a chat, on the shipped models (arguments are passed on: a models
#      directory with target/, draft/, medusa/, diffusion/; default <repo>/models/english).
# Exits non-zero on any failure, including the sample's own checks: every assembly the package's lib/ references
# resolves in the app, every family runs, and every lossless strategy reproduces greedy decoding token for token.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
project="$here/Pardec.Sample/Pardec.Sample.csproj"
feed="$here/.feed"
work="$(mktemp -d -t pardec-sample.XXXXXX)"
trap 'rm -rf "$work"' EXIT
packages="$work/packages"
global="${NUGET_PACKAGES:-$HOME/.nuget/packages}"

echo "== pack Pardec into $feed"
rm -rf "$feed"
dotnet pack "$root/src/Package/Pardec.csproj" -c Release -o "$feed" -nologo -v quiet
test -f "$feed/Pardec.0.1.0.nupkg"

echo "== restore the sample (packages: $packages)"
rm -rf "$here/Pardec.Sample/obj" "$here/Pardec.Sample/bin"
dotnet restore "$project" --packages "$packages" --no-http-cache --force-evaluate \
  -p:RestoreAdditionalProjectFallbackFolders="$global" -nologo -v quiet
if ! cmp -s "$feed/Pardec.0.1.0.nupkg" "$packages/pardec/0.1.0/pardec.0.1.0.nupkg"; then
  echo "run.sh: the restored Pardec 0.1.0 is not the package just packed (a copy in $global/pardec shadows it? delete it)" >&2
  exit 1
fi

echo "== build the sample"
dotnet build "$project" -c Release --no-restore -nologo -v quiet

echo "== run the sample"
cd "$root"
dotnet "$here/Pardec.Sample/bin/Release/net10.0/linux-x64/Pardec.Sample.dll" "$@"
