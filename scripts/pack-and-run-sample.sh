#!/usr/bin/env bash
# Packs every StepDistill package into a fresh local folder feed, trains a tiny student with the CLI, then restores,
# builds and runs samples/StepDistill.Sample against the PACKED packages (not the projects). Exits non-zero when a
# package is missing or the sample fails (it checks that the in-process and IChatClient answers agree).
# Expects a Release build of the solution (`dotnet build StepDistill.slnx -c Release`); about a minute on a quiet machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
# A version of its own per run, so the global NuGet cache never serves a stale copy of our packages.
version="0.1.0-sample.$(date +%s).$$"
cleanup() {
  rm -rf "$work"
  rm -rf "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/stepdistill*/"$version"
}
trap cleanup EXIT
feed="$work/feed"

echo "== pack ($version)"
dotnet pack "$root/StepDistill.slnx" -c Release --no-build --nologo -v q -o "$feed" -p:PackageVersion="$version"
for p in StepDistill.Core StepDistill.Student StepDistill.Inference StepDistill.Capture StepDistill.Teacher StepDistill.Training StepDistill; do
  test -f "$feed/$p.$version.nupkg" || { echo "missing package $p in $feed"; ls "$feed"; exit 1; }
done
# The package that brings TorchSharp carries the GLIBCXX fix to its consumers.
# (listings in variables: grep -q closing a pipe early would fail the pipeline under pipefail)
# (python3 lists the zip: unzip is not on a fresh machine)
student=$(python3 -m zipfile -l "$feed/StepDistill.Student.$version.nupkg"); inference=$(python3 -m zipfile -l "$feed/StepDistill.Inference.$version.nupkg")
grep -q "buildTransitive/StepDistill.Student.targets" <<< "$student" \
  || { echo "StepDistill.Student lacks buildTransitive/StepDistill.Student.targets"; exit 1; }
grep -q "lib/net10.0/StepDistill.Inference.xml" <<< "$inference" \
  || { echo "StepDistill.Inference lacks its XML docs"; exit 1; }

echo "== a tiny student"
data="$work/sums.jsonl"
for i in $(seq 0 39); do a=$((i % 7)); b=$((i / 7)); echo "{\"id\":\"$i\",\"input\":\"$a + $b\",\"label\":\"$((a + b))\"}"; done > "$data"
dotnet "$root/src/StepDistill.Cli/bin/Release/net10.0/stepdistill.dll" train --data "$data" --method standard --labels gold \
  --model tiny --max-steps 8 --batch-size 8 --max-new-tokens 4 --threads 1 --device cpu --out "$work/run" > /dev/null 2>&1

echo "== sample, restored from $feed"
dotnet run --project "$root/samples/StepDistill.Sample" -c Release \
  -p:StepDistillVersion="$version" -p:StepDistillPackages="$feed" -- "$work/run/best" "1 + 2" "3 + 4" "6 + 5"
