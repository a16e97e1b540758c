"""Run Snakemake for this project, recovering by itself from a run that was stopped hard.

`make run` calls ``python -m lcsurvey.pipeline.run --cores N --keep-going``. A run that is
killed (power loss, a closed terminal, an out-of-memory kill) leaves Snakemake's lock files in
.snakemake/locks and its unfinished jobs marked incomplete; the next run would stop with
Snakemake's stale-lock message. Here, before Snakemake starts:

- no lock file: Snakemake runs as asked;
- lock files, and a process of a run of this project is alive (a Snakemake process or one of
  its jobs, see `project_processes`): a message naming its pid and exit 1, since releasing the
  lock of a live run would let two runs write the same files;
- lock files and no such process: the lock is stale. It is released (``snakemake --unlock``),
  one line says so (RECOVERED), and Snakemake runs.

Snakemake always runs with ``--rerun-incomplete``: the outputs of jobs that were stopped
half-way are made again (Snakemake removes them first), the finished ones are kept, so the
results equal those of an uninterrupted run.

This module imports only the standard library, so that a run with nothing to do (`make run`
on up-to-date results) stays as fast as Snakemake itself: the lock check is a directory
listing, and processes are only listed when a lock file is there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LOCKS = Path(".snakemake") / "locks"
RECOVERED = "A previous run was interrupted; its lock is released and unfinished jobs are rerun."
RUNNING = "another run of this project is in progress (pid {pid}); wait for it or stop it"
UNKNOWN = (
    "a lock of an earlier run is in {locks}, and the running processes cannot be listed on "
    "this system; if no other run of this project is in progress, delete {locks} and run again"
)


def lock_files(project: Path) -> list[Path]:
    """Snakemake's lock files of the project (.snakemake/locks/*.lock)."""
    try:
        return sorted(p for p in (project / LOCKS).iterdir() if p.suffix == ".lock")
    except OSError:  # no .snakemake/locks yet
        return []


def is_run_command(cmdline: list[str]) -> bool:
    """Whether a command line is Snakemake's, or that of a job Snakemake started.

    Snakemake: an argument named snakemake (the `snakemake` script, or ``python
    .venv/bin/snakemake``) or ``-m snakemake``. A job: a rule's script, which Snakemake runs
    from .snakemake/scripts/.
    """
    for i, arg in enumerate(cmdline):
        name = os.path.basename(arg)
        if name in ("snakemake", "snakemake.exe"):
            return True
        if arg == "-m" and i + 1 < len(cmdline) and cmdline[i + 1] == "snakemake":
            return True
        if f"{os.sep}.snakemake{os.sep}scripts{os.sep}" in arg:
            return True
    return False


def project_processes(project: Path) -> list[int] | None:
    """Pids of live processes of a run of `project`: working directory `project`, command line
    of Snakemake or of one of its jobs (`is_run_command`). None: processes cannot be listed.

    Linux: /proc/<pid>/cwd and /proc/<pid>/cmdline (processes of other users, and processes
    that have exited but are not yet reaped, cannot be read there and are passed over).
    Elsewhere (macOS, Windows): psutil, which Snakemake itself requires.
    """
    project = Path(os.path.realpath(project))
    me = os.getpid()
    if os.path.isdir("/proc/self"):
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            try:
                cwd = os.readlink(f"/proc/{entry.name}/cwd")
                if Path(cwd) != project:
                    continue
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    raw = handle.read()
            except OSError:
                continue
            cmdline = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
            if is_run_command(cmdline):
                found.append(int(entry.name))
        return sorted(found)
    try:
        import psutil
    except ImportError:
        return None
    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline"]):
        info = proc.info
        if info["pid"] == me or not info["cwd"] or not info["cmdline"]:
            continue
        if Path(os.path.realpath(info["cwd"])) == project and is_run_command(info["cmdline"]):
            found.append(info["pid"])
    return sorted(found)


def snakemake_path() -> str:
    """The snakemake of this environment (beside its python), else the one on PATH."""
    beside = Path(sys.executable).with_name("snakemake")
    return str(beside) if beside.exists() else "snakemake"


def prepare(project: Path, snakemake: str) -> str | None:
    """Release a stale lock of `project`; return a message to stop with, or None to go on."""
    locks = lock_files(project)
    if not locks:
        return None
    running = project_processes(project)
    if running is None:
        return UNKNOWN.format(locks=LOCKS)
    if running:
        return RUNNING.format(pid=running[0])
    unlock = subprocess.run(
        [snakemake, "--unlock"], cwd=project, capture_output=True, text=True, check=False
    )
    if unlock.returncode != 0:
        # Snakemake could not read the workflow (a broken config, say): its own message.
        return "could not release the lock of the interrupted run:\n" + (
            unlock.stderr.strip() or unlock.stdout.strip()
        )
    print(RECOVERED, flush=True)
    return None


def main(argv: list[str] | None = None) -> int:
    """Check the lock, then become Snakemake with the given arguments and --rerun-incomplete."""
    args = list(sys.argv[1:] if argv is None else argv)
    project = Path.cwd()
    snakemake = snakemake_path()
    problem = prepare(project, snakemake)
    if problem:
        print(f"ERROR: {problem}", file=sys.stderr)
        return 1
    command = [snakemake, *args, "--rerun-incomplete"]
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process: Ctrl-C, exit status and the process group are Snakemake's own.
    os.execvp(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
