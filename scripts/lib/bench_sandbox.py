"""What the guest benchmarks that compare Vireo with QEMU side by side (bench_net.py,
bench_vsock.py, bench_balloon.py) share: the guest artefacts' paths, the ABBA order of boots,
running the boots a JSON file does not hold yet, and running the script's --inside part in
nested VMs until every planned boot has a result (a nested VM that dies is replaced)."""
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTEFACTS = {
    "VIREO_GUEST_KERNEL": ["guest-kernel", "--print", "bzimage"],
    "VIREO_GUEST_INITRAMFS": ["guest-initramfs"],
    "VIREO_GUEST_INITRAMFS_BENCH": ["guest-initramfs", "--with", "bench"],
}


def guest_env(*names):
    """os.environ with the named guest artefacts' paths, built (or found cached) where unset."""
    env = dict(os.environ)
    for var in names:
        if not env.get(var):
            args = ARTEFACTS[var]
            env[var] = subprocess.run([str(ROOT / "scripts" / args[0]), *args[1:]], check=True,
                                      stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[0]
    return env


def plan(rounds, sides):
    """Every (round, side) boot in order: ABBA, each round reversing the one before."""
    return [(r, side) for r in range(rounds) for side in (sides if r % 2 == 0 else list(reversed(sides)))]


def run_rounds(out, boots, run_one, label):
    """Runs the (round, side) boots that `out` (a JSON list) does not hold yet, `run_one(side)`
    each, adding each result to it as it comes: a nested VM that dies mid-run loses only the
    boot it was in."""
    runs = json.loads(pathlib.Path(out).read_text()) if os.path.exists(out) else []
    done = {(r["round"], r["side"]) for r in runs}
    for r, side in boots:
        if (r, side) in done:
            continue
        res = run_one(side)
        res["round"] = r
        runs.append(res)
        print(f"{label}: round {r} {side}: " + json.dumps({k: v for k, v in res.items() if k != "output_tail"}),
              file=sys.stderr, flush=True)
        pathlib.Path(out).write_text(json.dumps(runs, indent=1))


def run_in_sandboxes(script, raw, planned, args, env, seconds_per_boot, label, max_sandboxes=4):
    """Runs `script --inside raw ARGS...` in up to `max_sandboxes` nested VMs, each time for the
    boots not yet in `raw` (a JSON list the inside part appends to); returns how many it started."""
    sandboxes = 0
    while sandboxes < max_sandboxes:
        done = len(json.loads(pathlib.Path(raw).read_text())) if os.path.exists(raw) else 0
        left = planned - done
        if left == 0:
            break
        sandboxes += 1
        rc = subprocess.run([str(ROOT / "scripts" / "sandbox"), "--memory", "4G",
                             "--timeout", str(600 + left * seconds_per_boot),
                             "--", "sh", "-c", 'export TMPDIR=$VIREO_SANDBOX_TMPFS; exec "$@"', "sh",
                             "/usr/bin/python3", str(script), "--inside", raw, *map(str, args)],
                            cwd=ROOT, env=env).returncode
        if rc != 0:
            print(f"{label}: the nested VM ended with status {rc} after {done} boots", file=sys.stderr)
    return sandboxes
