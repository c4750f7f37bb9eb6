"""A stand-in `adb` for tests/test_device.py: a phone simulated from files in $FAKE_ADB_STATE.

devices, sdk, battery (dumpsys battery text), packages: what the phone answers.
app_result.json: what BenchmarkActivity writes when `am start` launches it (copied to result).
trace.pftrace: the Perfetto trace the phone would write (pulled only after perfetto was started).
Every call is appended to `calls`. No number comes from here that the test did not put in.
"""
import shutil
import sys
from pathlib import Path
import os

state = Path(os.environ["FAKE_ADB_STATE"])
args = sys.argv[1:]
with open(state / "calls", "a") as log:
    log.write(" ".join(args) + "\n")
if args[:1] == ["-s"]:
    args = args[2:]
line = " ".join(args)


def read(name, default=""):
    path = state / name
    return path.read_text() if path.exists() else default


if args[:1] == ["devices"]:
    print(read("devices"), end="")
elif args[:1] == ["push"]:
    remote = state / "remote"
    remote.mkdir(exist_ok=True)
    shutil.copy(args[1], remote / Path(args[2]).name)
elif args[:1] == ["pull"]:
    if not (state / "perfetto_stopped").exists() or not (state / "trace.pftrace").exists():
        print(f"adb: error: failed to stat remote object '{args[1]}': No such file or directory", file=sys.stderr)
        sys.exit(1)
    shutil.copy(state / "trace.pftrace", args[2])
elif args[:1] == ["shell"]:
    if "getprop ro.build.version.sdk" in line:
        print(read("sdk", "34"))
    elif "dumpsys battery" in line:
        print(read("battery", "  AC powered: false\n  USB powered: false\n  Wireless powered: false\n  level: 80\n"))
    elif "dumpsys power" in line:
        print("  mWakefulness=Awake")
    elif "pm list packages" in line:
        print(read("packages"), end="")
    elif "perfetto --background" in line:
        if (state / "no_perfetto").exists():
            print("/system/bin/sh: perfetto: not found")
        else:
            (state / "perfetto_started").write_text("1")
            (state / "perfetto_stopped").unlink(missing_ok=True)
            print("4242")
    elif line.startswith("shell kill -TERM 4242"):
        (state / "perfetto_stopped").write_text("1")
    elif line.startswith("shell kill -0"):
        sys.exit(1)  # perfetto has exited
    elif "am start -W -S" in line:
        if not (state / "app_result.json").exists():
            print("Error: Activity class {ai.emoedge.demo/ai.emoedge.demo.BenchmarkActivity} does not exist.")
        else:
            model = Path(args[args.index("model") + 1]).name if "model" in args else ""
            own = state / f"app_result.{model}.json"  # a per-model result where the test wrote one
            shutil.copy(own if own.exists() else state / "app_result.json", state / "result")
            print("Starting: Intent { cmp=ai.emoedge.demo/.BenchmarkActivity (has extras) }\nStatus: ok\n"
                  "LaunchState: COLD\nActivity: ai.emoedge.demo/.BenchmarkActivity\nTotalTime: 812\n"
                  "WaitTime: 815\nComplete")
    elif "cat /sdcard" in line:
        print(read("result"), end="")
