"""The host-side parser of the guest agent's console reports (agent.py), on captured and made-up
console output, and run_guest on stand-in commands. Host only: no guest is booted."""
import os
import signal
import sys
import textwrap
import time

import pytest

import agent

pytestmark = pytest.mark.host

# The shape of a real serial console capture: kernel messages, the agent, test output.
CONSOLE = textwrap.dedent("""\
    [    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)
    [    0.000000] Command line: console=ttyS0 panic=-1 vireo.test=smoke,fail-on-purpose,nope
    [    1.925956] Run /init as init process
    VIREO-AGENT: init
    VIREO-AGENT: begin smoke
    VIREO-AGENT: info cpus=2
    VIREO-AGENT: info memtotal_kb=468412
    VIREO-AGENT: info kernel=6.1.0-56-amd64

    VIREO-AGENT: result smoke pass
    VIREO-AGENT: begin fail-on-purpose
    VIREO-AGENT: info fail_on_purpose=yes
    fail-on-purpose: FAIL: failing on purpose

    VIREO-AGENT: result fail-on-purpose fail failing on purpose
    VIREO-AGENT: begin nope

    VIREO-AGENT: result nope fail no-such-test
    VIREO-AGENT: end pass=1 fail=2
    [    5.370341] ACPI: PM: Preparing to enter system sleep state S5
    [    5.373151] reboot: Power down
    """)


def test_a_full_run():
    r = agent.parse(CONSOLE)
    assert r.init_seen and r.ended
    assert list(r.tests) == ["smoke", "fail-on-purpose", "nope"]
    assert r.tests["smoke"] == ("pass", "")
    assert r.tests["fail-on-purpose"] == ("fail", "failing on purpose")
    assert r.tests["nope"] == ("fail", "no-such-test")
    assert r.info == {"cpus": "2", "memtotal_kb": "468412", "kernel": "6.1.0-56-amd64",
                      "fail_on_purpose": "yes"}
    assert r.end_counts == {"pass": 1, "fail": 2}
    assert r.passed() == ["smoke"] and r.failed() == ["fail-on-purpose", "nope"]
    assert r.test_info["smoke"]["cpus"] == "2"
    assert r.test_info["fail-on-purpose"] == {"fail_on_purpose": "yes"}
    assert r.running is None and not r.ok and r.unparsed == []


def test_crlf_and_bytes():
    r = agent.parse(CONSOLE.replace("\n", "\r\n").encode())
    assert r.init_seen and r.ended
    assert r.tests["fail-on-purpose"] == ("fail", "failing on purpose")
    assert r.info["kernel"] == "6.1.0-56-amd64"


def test_prefixes_noise_and_escape_sequences_on_the_line():
    text = ("[    2.1] random: crng init done\n"
            "\x1b[0m[  OK  ] VIREO-AGENT: init\r\n"
            "some test output without a newlineVIREO-AGENT: begin smoke\n"
            "<6>[    3.0] x VIREO-AGENT: info cpus=4\x1b[K\r\n"
            "garbage\rVIREO-AGENT: result smoke pass   \r\r\n"
            "\x00\x00VIREO-AGENT: end pass=1 fail=0\n")
    r = agent.parse(text)
    assert r.init_seen
    assert r.tests == {"smoke": ("pass", "")}
    assert r.info == {"cpus": "4"}
    assert r.end_counts == {"pass": 1, "fail": 0}
    assert r.ok


def test_kernel_message_between_lines_and_two_records_on_one_line():
    text = ("VIREO-AGENT: init\n"
            "VIREO-AGENT: begin a\n"
            "[    9.9] virtio_blk virtio1: [vda] 2048 512-byte logical blocks\n"
            "VIREO-AGENT: result a passVIREO-AGENT: begin b\n"
            "VIREO-AGENT: result b fail exit 3\n")
    r = agent.parse(text)
    assert r.tests == {"a": ("pass", ""), "b": ("fail", "exit 3")}
    assert not r.ended and r.end_counts is None


def test_value_keeps_equals_signs_and_spaces():
    r = agent.parse("VIREO-AGENT: info cmdline=console=ttyS0 vireo.test=smoke\n"
                    "VIREO-AGENT: info empty=\n")
    assert r.info == {"cmdline": "console=ttyS0 vireo.test=smoke", "empty": ""}


def test_a_test_that_never_finished():
    r = agent.parse("VIREO-AGENT: init\nVIREO-AGENT: begin smoke\nVIREO-AGENT: result smoke pass\n"
                    "VIREO-AGENT: begin idle\n[  300.0] watchdog: BUG: soft lockup\n")
    assert r.running == "idle"
    assert list(r.tests) == ["smoke"]
    assert not r.ended and not r.ok
    assert "running idle" in r.summary()


def test_repeated_test_names_keep_every_result():
    r = agent.parse("VIREO-AGENT: init\n"
                    "VIREO-AGENT: begin f\nVIREO-AGENT: result f fail one\n"
                    "VIREO-AGENT: begin g\nVIREO-AGENT: result g pass\n"
                    "VIREO-AGENT: begin f\nVIREO-AGENT: result f fail two\n"
                    "VIREO-AGENT: end pass=1 fail=2\n")
    assert r.results == [("f", "fail", "one"), ("g", "pass", ""), ("f", "fail", "two")]
    assert list(r.tests.items()) == [("g", ("pass", "")), ("f", ("fail", "two"))]
    assert r.end_counts == {"pass": 1, "fail": 2}


def test_timeout_reason():
    r = agent.parse("VIREO-AGENT: begin idle\nVIREO-AGENT: result idle fail timeout\n")
    assert r.tests["idle"] == ("fail", "timeout")


def test_garbled_and_unknown_records_are_set_aside():
    r = agent.parse("VIREO-AGENT: result smoke maybe\n"
                    "VIREO-AGENT: resu\n"
                    "VIREO-AGENT: end pass=x fail=0\n"
                    "VIREO-AGENT: info novalue\n"
                    "VIREO-AGENT: future-thing 1 2\n"
                    "VIREO-AGENT:\n")
    assert r.tests == {} and r.info == {} and not r.ended
    assert len(r.unparsed) == 5


def test_nothing_from_the_agent():
    r = agent.parse("[    0.5] Kernel panic - not syncing: No working init found.\n")
    assert not r.init_seen and not r.ended and r.tests == {} and not r.ok
    assert r.summary() == "[no agent output] "
    assert agent.parse("") == agent.AgentReport()


def test_a_line_cut_by_a_kernel_message_is_not_misread():
    # The serial driver can put a kernel line in the middle of a user-space one.
    text = ("VIREO-AGENT: result sm[   4.2] clocksource: Switched to clocksource tsc\n"
            "oke pass\n")
    r = agent.parse(text)
    assert r.tests == {}
    assert r.unparsed


# --- run_guest, with shell scripts standing in for a VMM ----------------------------------------

def _sh(script):
    return ["/bin/sh", "-c", script]


def test_run_guest_collects_output_and_the_exit_status():
    rc, out, report = agent.run_guest(_sh(
        "echo 'VIREO-AGENT: init'; echo 'VIREO-AGENT: begin t'; echo 'on stderr' >&2;"
        "printf 'VIREO-AGENT: result t pass\\r\\nVIREO-AGENT: end pass=1 fail=0\\r\\n'; exit 7"),
        timeout=30)
    assert rc == 7
    assert "on stderr" in out
    assert report.ok


def test_run_guest_kills_the_process_group_on_timeout(tmp_path):
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    # A child that ignores SIGTERM, in the same process group: only SIGKILL to the group ends it.
    rc, out, report = agent.run_guest(_sh(
        f"echo 'VIREO-AGENT: init'; echo 'VIREO-AGENT: begin idle';"
        f"sh -c 'trap \"\" TERM; echo $$ > {pidfile}; while :; do sleep 1; done' & wait"),
        timeout=2)
    assert rc is None
    assert time.monotonic() - start < 15
    assert report.running == "idle"
    pid = int(pidfile.read_text())
    for _ in range(50):
        if not _alive(pid):
            break
        time.sleep(0.1)
    assert not _alive(pid)


def test_run_guest_does_not_hang_on_a_grandchild_holding_the_pipe(tmp_path):
    rc, out, _ = agent.run_guest(_sh("echo started; sleep 60 & exit 3"), timeout=30)
    assert rc == 3
    assert "started" in out


def test_run_guest_streams(tmp_path):
    log = tmp_path / "console.log"
    with open(log, "wb") as f:
        agent.run_guest(_sh("echo 'VIREO-AGENT: init'"), timeout=30, stream=f)
    assert log.read_bytes() == b"VIREO-AGENT: init\n"
    # A text stream works too.
    agent.run_guest(_sh("echo to-stderr-stream"), timeout=30, stream=sys.stderr)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for its parent is as good as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
