"""Every shell line of the README runs as printed, against the engine that its own `serve` line
starts, in a directory laid out as a clone is after `make run` (`.venv/bin/district-engine`,
`.district-engine/` with the demo's keys).

The README names 127.0.0.1:8000, so the engine and the lines run in a network namespace of their
own (`unshare -n`, as root): a server already on port 8000 (someone's `make run`) is neither hit nor
in the way. Where namespaces are not to be had, they run on the machine if port 8000 is free, and
the test fails, saying why, if it is not.

Lines that cannot run here are listed in NOT_RUN with the reason; the test fails if the README has
a line that is neither run nor listed, or if a listed line is gone from it.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import shapely

from helpers import feature, square

README = Path(__file__).resolve().parents[2] / "README.md"
URL = "http://127.0.0.1:8000"

NOT_RUN = {
    "make run": "installs and serves in the foreground until Ctrl-C; the test starts the same server with the "
                "README's own `district-engine serve` line (and tests/integration/test_demo_start.py starts serve)",
    "make test": "is the suite this test is part of",
    ".venv/bin/district-engine worker": "runs until Ctrl-C; tests/integration/test_worker_process.py runs workers",
}
SERVE = ".venv/bin/district-engine serve --port 8000 --workers 2"  # the server, started first
AFTER_STOP = (".venv/bin/district-engine reset-demo",)  # needs the engine stopped: run once it is

# What each line must answer (a regex searched in its output), beyond exiting 0: curl exits 0 on a
# 401 too. Keyed by a part of the line; the longest key found in a line is its.
ANSWERS = {
    "v1/feed?lat=39.9310": r'"offers":\[\{.*"sanlitun-taikoo-li"',
    '"u-1", "lat": 39.9300': r'"district_id":"sanlitun-taikoo-li"',
    "campaigns?state=live": r'("state":"live".*){5}',
    "curl http://127.0.0.1:8000/v1/districts": r'"indigo-beijing"',
    "from u-3": r'"new_offers":\[\{"campaign_id"',
    "entry 京A12345": r'"decision": "open"',
    "exit 京A12345": r'(?=.*"decision": "pay")(?=.*"fee_cents": 2000)',
    "curl -I": r"HTTP/1.1 200",
    "district-engine districts  ": r"read from the demo districts bundled with the engine",
    "match 39.9300 116.4470  ": r"sanlitun-taikoo-li",
    "--coord gcj02": r"sanlitun-taikoo-li",
    "--geodata my_districts.geojson": r"my-mall",
    "districts --url http://127.0.0.1:8000 --json": r'"source": "the engine at http://127.0.0.1:8000"',
    "match 39.9300 116.4470 --url": r"sanlitun-taikoo-li",
    "--mine --key": r"5 districts.*read from the engine at http://127.0.0.1:8000 \(your districts\)",
    "operator create": r"de_live_",
    "channel create": r"de_chan_",
    "channel token $CH": r"eyJ[\w-]+\.eyJ[\w-]+\.",  # a JWT
    "rotate-key $CH": r"new API key",
    "entry 京B12345": r'"decision": "open"',
    "reset-demo": r"deleted [\d,]+ keys",
}


def readme_commands() -> list[str]:
    """The shell commands of the README's ```bash blocks, a command continued with `\\` as one."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL):
        pending = ""
        for line in block.splitlines():
            pending += line + "\n"
            if not line.rstrip().endswith("\\"):
                if pending.strip():
                    commands.append(pending.rstrip("\n"))
                pending = ""
    return commands


def head(command: str) -> str:
    """The command without its trailing comment (for matching it to the lists above)."""
    return re.sub(r"\s+#[^'\"]*$", "", command).strip()


def test_every_readme_line_is_run_or_listed_with_a_reason():
    heads = [head(c) for c in readme_commands()]
    for listed in [*NOT_RUN, SERVE, *AFTER_STOP]:
        assert listed in heads, f"{listed!r} is listed here but no longer in the README"
    for key in ANSWERS:
        assert any(key in c for c in readme_commands()), f"no README line has {key!r}"


def _namespace() -> list[str]:
    """The prefix that runs a command in a network namespace of its own, or [] to run on the machine."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-n"]
    with socket.socket() as s:
        in_use = s.connect_ex(("127.0.0.1", 8000)) == 0
    assert not in_use, ("the README's lines name 127.0.0.1:8000, which is in use, and no network namespace can be "
                        "made here (unshare -n, as root) to run them apart")
    return []


def _lay_out(work: Path) -> None:
    """A clone's directory after `make run`, as far as the lines see it: the CLI at .venv/bin, and the
    file the README's --geodata line names (a district of one's own, by Hangzhou's West Lake)."""
    bin_dir = work / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    cli = bin_dir / "district-engine"
    cli.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m district_engine.cli "$@"\n')
    cli.chmod(0o755)
    mine = feature("my-mall", shapely.geometry.shape(square(30.2550, 120.1600, 100)), name="My Mall", city="Hangzhou")
    (work / "my_districts.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [mine]}))


def _script(commands: list[str], out: str) -> str:
    """The lines one after another in one shell (their variables carry on), each between markers
    that say which it is and what it exited with; then, if a line left a stream running in the
    background, a wait (60 s at most) for its offer to be written to ``out``, and its end."""
    parts = ["set -u"]
    for i, command in enumerate(commands):
        parts += [f"echo '<<<{i}>>>'", command, f"echo \"<<<{i} exit $?>>>\""]
    parts += [f'if [ -n "$(jobs -p)" ]; then for i in $(seq 600); do grep -q "event: offer" {out} && break; sleep 0.1;',
              "done; kill $(jobs -p); fi; true"]
    return "\n".join(parts) + "\n"


DRIVER = """
set -u
cd "$1"
ip link set lo up 2>/dev/null || true   # a new network namespace starts with loopback down
bash serve.sh > server.log 2>&1 &
server=$!
for i in $(seq 1 900); do
  curl -s -o /dev/null -f http://127.0.0.1:8000/readyz && break
  kill -0 $server 2>/dev/null || break
  sleep 0.2
done
bash readme.sh > readme.out 2>&1
pkill -TERM -P $server; wait $server
bash after.sh > after.out 2>&1
"""


def _segments(out: str, commands: list[str]) -> dict[int, tuple[str, int | None]]:
    found = {}
    for i in range(len(commands)):
        m = re.search(rf"<<<{i}>>>\n(.*?)<<<{i} exit (\d+)>>>", out, re.DOTALL)
        found[i] = (m.group(1), int(m.group(2))) if m else ("", None)
    return found


def test_every_readme_line_runs_as_printed(tmp_path):
    commands = readme_commands()
    run = [c for c in commands if head(c) not in NOT_RUN and head(c) != SERVE and head(c) not in AFTER_STOP]
    after = [c for c in commands if head(c) in AFTER_STOP]
    (serve,) = [c for c in commands if head(c) == SERVE]
    _lay_out(tmp_path)
    (tmp_path / "serve.sh").write_text(serve + "\n")
    (tmp_path / "readme.sh").write_text(_script(run, "readme.out"))
    (tmp_path / "after.sh").write_text(_script(after, "after.out"))
    (tmp_path / "driver.sh").write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DE_")}  # the README's defaults
    subprocess.run([*_namespace(), "bash", str(tmp_path / "driver.sh"), str(tmp_path)], env=env, timeout=600,
                   check=True)

    server_log = (tmp_path / "server.log").read_text()
    assert "demo data loaded; demo operator API key: de_live_" in server_log, server_log
    failures = []
    for commands_, out in ((run, (tmp_path / "readme.out").read_text()), (after, (tmp_path / "after.out").read_text())):
        for i, (said, code) in _segments(out, commands_).items():
            expected = max(((len(key), rx) for key, rx in ANSWERS.items() if key in commands_[i]), default=(0, None))[1]
            if code != 0:
                failures.append(f"{commands_[i]}\n  exited {code}: {said[-800:]}")
            elif expected and not re.search(expected, said, re.DOTALL | re.MULTILINE):
                failures.append(f"{commands_[i]}\n  answered, without /{expected}/: {said[-800:]}")
        if commands_ is run:
            assert "event: offer" in out, "the README's stream got no offer"  # u-2's, pushed on entry
    assert not failures, "\n".join(failures) + f"\n--- server log:\n{server_log[-3000:]}"
