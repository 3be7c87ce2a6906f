"""A real one-node SLURM cluster on this machine, for the cluster test (tests/test_slurm.py).

Debian's ``slurm-wlm`` and ``munge`` (installed with apt-get when absent): munged runs as
user ``munge`` with a fresh key, slurmctld and slurmd as root on localhost, every file in
one temporary directory, on free ports. :func:`local_slurm` yields the environment in which
``sbatch``, ``squeue`` and submitit reach this cluster, and stops the daemons it started by
their pids, whatever happens inside.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
PARTITION = "debug"


def unavailable() -> str | None:
    """Why a cluster cannot be started here, or None."""
    if os.name != "posix" or os.geteuid() != 0:
        return "the local SLURM cluster needs root (slurmctld, slurmd, and munged as user munge)"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "slurm-wlm is not installed and there is no apt-get to install it"
    return None


def install() -> None:
    """Debian's slurm-wlm and munge, if slurmctld is absent (about a minute)."""
    if shutil.which("slurmctld") and shutil.which("munged"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True, env=env, capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(root: Path, node: str, cpus: int, memory_mb: int) -> str:
    return f"""ClusterName=rllab
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root / "munge" / "munge.socket"}
SlurmUser=root
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "slurmctld.pid"}
SlurmdPidFile={root / "slurmd.pid"}
SlurmctldLogFile={root / "slurmctld.log"}
SlurmdLogFile={root / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def _wait_for(condition, what: str, log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text()[-1500:] if log.exists() else "(no log)"
            raise RuntimeError(f"local SLURM: {what} not ready after {timeout_s:.0f} s; {log}:\n{tail}")
        time.sleep(0.5)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def local_slurm() -> Iterator[dict[str, str]]:
    """Start munged, slurmctld and slurmd; yield the environment that reaches them; stop them."""
    install()
    root = Path(tempfile.mkdtemp(prefix="rl_lab_slurm_"))
    root.chmod(0o755)  # munged (user munge) must reach its own directory inside
    munge = pwd.getpwnam("munge")
    (root / "munge").mkdir()
    (root / "munge").chmod(0o755)  # clients need to reach the socket; the key itself is 0600
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    for path in (root / "munge", key):
        os.chown(path, munge.pw_uid, munge.pw_gid)
    for name in ("state", "spool"):
        (root / name).mkdir()
    node = socket.gethostname().split(".")[0]
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 * 9 // 10
    (root / "slurm.conf").write_text(_config(root, node, os.cpu_count() or 1, memory_mb))
    # 22.05: slurmd exits without a cgroup plugin, and "disabled" is not one
    (root / "cgroup.conf").write_text("CgroupPlugin=cgroup/v1\nIgnoreSystemd=yes\n")
    env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}
    m = root / "munge"
    with ExitStack() as stack:
        daemons = [
            subprocess.Popen(
                ["munged", "-F", f"--key-file={key}", f"--socket={m / 'munge.socket'}", f"--pid-file={m / 'pid'}",
                 f"--log-file={m / 'munged.log'}", f"--seed-file={m / 'seed'}"],
                user=munge.pw_uid, group=munge.pw_gid, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            )
        ]  # fmt: skip
        stack.callback(lambda: [_stop(d) for d in reversed(daemons)])
        stack.callback(shutil.rmtree, root, True)
        _wait_for(lambda: (m / "munge.socket").exists(), "munged", m / "munged.log")
        for daemon in ("slurmctld", "slurmd"):
            daemons.append(
                subprocess.Popen([daemon, "-D", "-f", str(root / "slurm.conf")], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.STDOUT)
            )  # fmt: skip

        def idle() -> bool:
            for d in daemons:
                if d.poll() is not None:
                    raise RuntimeError(f"local SLURM: {d.args[0]} exited with {d.returncode}; logs in {root}")
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            return state.stdout.strip() == "idle"

        _wait_for(idle, "the node", root / "slurmd.log")
        yield env
