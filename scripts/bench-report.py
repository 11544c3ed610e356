#!/usr/bin/env python3
"""Prints a `make bench` run's tables and appends them to docs/bench.md as a section of their
own, with the machine it ran on and the raw rows (scripts/bench runs it).

    bench-report.py RESULTS DOC WHERE STARTED LOAD MINUTES BUILD_MINUTES SAMPLES NOTE
"""
import json
import os
import sys

results, doc, where, started, load, minutes, build_minutes, samples, note = sys.argv[1:10]
raw = [line.rstrip("\n") for line in open(results) if line.startswith("{")]
rows = [json.loads(line) for line in raw]
NETEM = ("1b", "3", "6", "6b")
model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
             "unknown CPU")
lines = [
    f"## Run of {started}",
    "",
    f"- machine: {os.cpu_count()} CPUs ({model}), Linux {os.uname().release}; load average at start {load}",
    f"- netem parts ({', '.join(NETEM)}) ran on: {where}"
    + (" (its absolute times are not comparable with the host's; its ratios are)" if where != "host" else ""),
    f"- {samples} samples per variant; the parts took {minutes} min, the build before them {build_minutes} min",
]
if note:
    lines.append(f"- {note}")
for part in dict.fromkeys(r["part"] for r in rows):
    group = [r for r in rows if r["part"] == part]
    netem = part.split(".")[0] in NETEM
    lines += ["", f"### {part}" + (f" [{where}]" if where != "host" and netem else ""), ""]
    lines.append("| " + " | ".join(group[0]["columns"]) + " |")
    lines.append("| --- |" + " ---: |" * (len(group[0]["columns"]) - 1))
    lines += ["| " + " | ".join(r["cells"]) + " |" for r in group]
lines += ["", "<details><summary>Raw rows of this run</summary>", "", "```", *raw, "```", "", "</details>", ""]
text = "\n".join(lines)
print(text)
with open(doc, "a") as f:
    f.write("\n" + text)
print(f"bench: appended to {doc}", file=sys.stderr)
