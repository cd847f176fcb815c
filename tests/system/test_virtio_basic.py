"""Linux's own virtio drivers on Vireo's transports: virtio-rng and a multiport virtio-console on
every transport in one boot, and hvc0 as the guest's console. Runs where /dev/kvm works."""
import json
import os

import pytest

import agent
from virtio_env import TRANSPORTS, EchoPeer, socket_path
from vmm import BASE_CMDLINE, Guest, api, temp_dir

pytestmark = pytest.mark.kvm

VIRTIO_ID_CONSOLE = 3
VIRTIO_ID_RNG = 4
VIRTIO_F_RING_PACKED = 34


def write_config(directory, kernel, initramfs, cmdline, devices, console="stdio", memory="256M"):
    cfg = {
        "vm": {"cpus": 1, "memory": memory},
        "boot": {"kernel": str(kernel), "initrd": str(initramfs), "cmdline": cmdline},
        "console": {"mode": console},
        "devices": devices,
        "api_socket": os.path.join(directory, "api.sock"),
    }
    path = os.path.join(directory, "vm.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def virtio_devices(report):
    """{name: {key: value}} from virtio-list's info lines."""
    out = {}
    for key, value in report.info.items():
        if key.startswith("virtio.virtio"):
            out[key[len("virtio."):]] = dict(field.split("=", 1) for field in value.split())
    return out


def test_rng_and_console_ports_work_on_every_transport_in_one_boot(vireo, kvm, guest_kernel, guest_initramfs):
    d = temp_dir()
    devices, peers = [], []
    for t in TRANSPORTS:
        # Split rings for rng, packed (the default) for the console: both layouts in one boot.
        devices.append({"type": "rng", "transport": t, "packed": False, "id": f"rng-{t}"})
        sock = socket_path(d, f"echo-{t}.sock")
        # The consoles misbehave from the start, by their config: used buffers handed back out
        # of order and interrupts sent twice on one, used buffers late and interrupts lost on the
        # other. The echo below must come through all the same.
        faults = ({"reorder_used_every": 2, "duplicate_interrupts_every": 3} if t == "pci"
                  else {"delay_used_ms": 20, "drop_interrupts_every": 4})
        devices.append({"type": "console", "transport": t, "console_port": False, "virtio_faults": faults,
                        "ports": [{"backend": "none"}, {"name": f"org.vireo.echo.{t}", "backend": "socket", "path": sock}]})
        peers.append(EchoPeer(sock))
    # virtio-raw's targets (tests/guest/tests/virtio-raw): the pci rng above, a block, net, vsock
    # and one-port console device on each transport, packed and split rings in turn, and an IOMMU.
    image = os.path.join(d, "raw.img")
    with open(image, "wb") as f:
        f.truncate(1 << 20)
    for i, t in enumerate(TRANSPORTS):
        packed = t == "pci"
        devices += [
            {"type": "block", "transport": t, "path": image, "readonly": True, "packed": packed, "id": f"raw-blk-{t}"},
            {"type": "net", "transport": t, "packed": not packed, "id": f"raw-net-{t}"},
            {"type": "vsock", "transport": t, "cid": 3 + i, "uds_path": socket_path(d, f"raw-{t}.vsock"),
             "packed": not packed, "id": f"raw-vsock-{t}"},
            {"type": "console", "transport": t, "backend": "none", "console_port": False, "packed": packed,
             "id": f"raw-console-{t}"},
        ]
    # An IOMMU with nothing behind it, for virtio-raw too.
    devices.append({"type": "iommu", "transport": "mmio", "packed": True, "id": "raw-iommu-mmio"})
    # pci-unplug's disk, taken off the bus by surprise at the end.
    devices.append({"type": "block", "transport": "pci", "path": image, "readonly": True, "serial": "vireo-unplug",
                    "id": "unplug-blk"})
    n = len(TRANSPORTS)
    cmdline = (f"{BASE_CMDLINE} vireo.test=virtio-list,virtio-rng,virtio-console-echo,virtio-faults,virtio-raw,"
               f"pci-unplug,idle vireo.rngs={n} vireo.ports={n}")
    config = write_config(d, guest_kernel, guest_initramfs, cmdline, devices)
    g = Guest([vireo, "run", "--config", config])
    sock = os.path.join(d, "api.sock")
    try:
        # Injected faults, in step with tests/guest/tests/virtio-faults.
        assert g.wait_for("faults.timing=ready", timeout=140), g.output[-4000:]
        for t in TRANSPORTS:
            reply = api(sock, "fault-inject", id=f"rng-{t}", delay_interrupts_ms=300, config_interrupt_every_ms=100,
                        delay_used_ms=100)
            assert reply["ok"] and reply["result"]["timing"]["delay_interrupts_ms"] == 300, reply
        assert g.wait_for("faults.timing_seen=", timeout=140), g.output[-4000:]
        delayed_used = 0
        for t in TRANSPORTS:
            reply = api(sock, "fault-inject", id=f"rng-{t}", delay_interrupts_ms=0, config_interrupt_every_ms=0,
                        delay_used_ms=0)
            assert reply["ok"] and reply["result"]["timing"]["config_interrupts"] >= 3, reply
            delayed_used += reply["result"]["timing"]["delayed_used"]
        # The reads of 2 KiB took several requests, from whichever rng /dev/hwrng uses.
        assert delayed_used >= 2, delayed_used
        assert g.wait_for("faults.ready=", timeout=140), g.output[-4000:]
        for t in TRANSPORTS:
            reply = api(sock, "fault-inject", id=f"rng-{t}", needs_reset=True)
            assert reply["ok"] and reply["result"]["status"] & 0x40, reply
        assert g.wait_for("faults.recovered=", timeout=140), g.output[-4000:]
        assert g.wait_for("faults.stall_ready=", timeout=140), g.output[-4000:]
        for t in TRANSPORTS:
            reply = api(sock, "fault-inject", id=f"rng-{t}", stall_queue={"queue": 0, "ms": 1500})
            assert reply["ok"], reply
        assert g.wait_for("faults.stalled_ms=", timeout=140), g.output[-4000:]
        for t in TRANSPORTS:
            reply = api(sock, "fault-inject", id=f"rng-{t}", refuse_features_ok=True, needs_reset=True)
            assert reply["ok"] and reply["result"]["refuse_features_ok"], reply
        assert g.wait_for("faults.refused=", timeout=140), g.output[-4000:]
        for t in TRANSPORTS:
            assert api(sock, "fault-inject", id=f"rng-{t}", refuse_features_ok=False)["ok"]
        assert not api(sock, "fault-inject", id="rng-mmio", faults=[])["ok"]  # no request rules on rng
        # Surprise removal: only a virtio-pci device, and only for good.
        assert g.wait_for("unplug.ready=", timeout=140), g.output[-4000:]
        assert not api(sock, "fault-inject", id="raw-blk-mmio", unplug=True)["ok"]
        assert not api(sock, "fault-inject", id="unplug-blk", unplug=False)["ok"]
        reply = api(sock, "fault-inject", id="unplug-blk", unplug=True)
        assert reply["ok"] and reply["result"]["unplugged"] and reply["result"]["status"] == 0, reply
        assert g.wait_for("unplug.function=", timeout=140), g.output[-4000:]
        assert g.wait_for("VIREO-AGENT: begin idle", timeout=140), g.output[-4000:]
        status = api(sock, "status")["result"]
        assert api(os.path.join(d, "api.sock"), "quit")["ok"]
        assert g.wait(timeout=60) == 0, g.output[-3000:]
    finally:
        g.kill()
        for p in peers:
            p.stop()

    report = agent.parse(g.output)
    for name in ("virtio-list", "virtio-rng", "virtio-console-echo", "virtio-faults", "virtio-raw", "pci-unplug"):
        assert report.tests.get(name, ("missing",))[0] == "pass", report.summary() + g.output[-3000:]
    found = virtio_devices(report)
    for t in TRANSPORTS:
        # The two-port consoles; the one-port ones are virtio-raw's.
        on_t = {v["device"]: v for v in found.values() if v["transport"] == t
                and (v["device"] != str(VIRTIO_ID_CONSOLE) or v["ports"] == "2")}
        assert on_t.get(str(VIRTIO_ID_RNG), {}).get("driver") == "virtio_rng", found
        assert on_t.get(str(VIRTIO_ID_CONSOLE), {}).get("driver") == "virtio_console", found
        if t == "pci":
            # Every virtio-pci device runs on MSI-X (its queues and config have vectors).
            assert int(on_t[str(VIRTIO_ID_RNG)]["msix"]) >= 1, found
            assert int(on_t[str(VIRTIO_ID_CONSOLE)]["msix"]) >= 1, found
        # Linux takes a packed ring whenever it is offered.
        assert on_t[str(VIRTIO_ID_RNG)]["features"][VIRTIO_F_RING_PACKED] == "0"
        assert on_t[str(VIRTIO_ID_CONSOLE)]["features"][VIRTIO_F_RING_PACKED] == "1"
    assert int(report.info["rng_count"]) == n
    # The hostile cases from inside the guest, on every target: the VMM stayed up (it answered
    # the API after them) and each device worked again after each case's reset.
    targets = {k[len("raw."):]: v for k, v in report.info.items() if k.count(".") == 1 and k.startswith("raw.")
               and k not in ("raw.targets", "raw.cases")}
    assert sorted(targets) == sorted([f"{kind}-{t}" for kind in ("blk", "net", "vsock", "console") for t in TRANSPORTS]
                                     + ["rng-pci", "iommu-mmio"]), report.info
    assert int(report.info["raw.targets"]) == len(targets)
    assert {v.split()[0] for v in targets.values()} == {"split", "packed"}, targets
    cases = {k[len("raw."):]: v for k, v in report.info.items() if k.count(".") == 2 and k.startswith("raw.")}
    assert int(report.info["raw.cases"]) == len(cases) >= 10 * len(targets), report.info
    assert all(v.endswith("; recovered") for k, v in cases.items() if not k.endswith(".well_formed")), cases
    for target, value in targets.items():
        split = value.startswith("split")
        bad_buffers = ["out_of_ram", "huge_length", "wrapping_address", "buffer_in_mmio", "readable_after_writable",
                       "indirect_not_negotiated"]
        ring = ["chain_loop", "next_out_of_range", "head_out_of_range", "avail_jump"] if split else \
            ["chain_unterminated"]
        for case in bad_buffers + ring:
            # Refused: the device asks for a reset, or hands the buffer back untouched.
            assert cases[f"{target}.{case}"].startswith(("needs_reset", "used len=0")), (target, case, cases)
        if not split:
            # A descriptor of the wrong lap is not available: the device must not take it.
            assert cases[f"{target}.stale_wrap_counter"].startswith("ignored"), cases
    assert int(report.info["echo_ports"]) == n
    for p in peers:
        assert p.error is None, p.error
        assert len(p.lines) == 1 and p.lines[0].startswith("vireo-org.vireo.echo."), p.lines

    assert len(status["devices"]) == len(devices)
    ring_rules = {"more_buffers_than_queue_size", "ring_entry_invalid", "chain_too_long", "indirect_misused",
                  "writable_before_readable", "buffer_not_reachable"}
    raw_targets = {"rng-pci", "raw-iommu-mmio"} | {f"raw-{kind}-{t}" for kind in ("blk", "net", "vsock", "console")
                                                   for t in TRANSPORTS}
    for dev in status["devices"]:
        rules = {v["rule"] for v in dev["driver_violations"]}
        if dev["id"] in raw_targets:
            # virtio-raw's hostile cases, each in the report as the ring rule it broke (and it
            # waited for every reset, as Linux does).
            broken = {"chain_too_long", "indirect_misused", "writable_before_readable", "buffer_not_reachable"}
            if not next(c for c in devices if c.get("id") == dev["id"])["packed"]:
                broken |= {"ring_entry_invalid", "more_buffers_than_queue_size"}
            assert broken <= rules <= ring_rules, dev
        else:
            # Linux broke none of the driver requirements the transports check, faults or not.
            assert dev["driver_violations"] == [], dev
        if dev["type"] == "rng" and dev["transport"] == "mmio":
            # Probed, reset, probed again, then refused: the driver marked it FAILED.
            assert dev["activations"] >= 2, dev
            assert dev["status"] & 0x80 and not dev["status"] & 0x04, dev
        if dev["type"] == "console" and dev["id"] not in raw_targets:
            injected = dev["injected_timing"]
            if dev["transport"] == "pci":
                assert injected["reordered_used"] > 0 and injected["duplicated_interrupts"] > 0, dev
            else:
                assert injected["delayed_used"] > 0 and injected["dropped_interrupts"] > 0, dev
        if dev["id"] in raw_targets:
            # Then virtio-raw drove it through every hostile case, and reset it at the end.
            assert dev["activations"] >= 12, dev
            assert dev["status"] == 0, dev
        if dev["id"] == "unplug-blk":
            # Gone from the bus, reset; the guest's bus check read its vendor ID after that (and
            # Linux 6.12's virtio-pci reset goes on polling device_status while it hangs).
            assert dev["unplugged"] and dev["status"] == 0 and dev["accesses_after_unplug"] >= 1, dev
            if report.info["unplug.function"] == "still present":
                # msleep(1) between reads: one every 8 ms at the guest's HZ=250, for the second and
                # more since the disk went (155 seen); a few reads of the removal alone stay far below.
                assert dev["accesses_after_unplug"] >= 20, dev
        else:
            assert "unplugged" not in dev, dev
        assert dev["activations"] >= 1, dev
        assert dev["notifies"] > 0, dev
        # Every queue notify went through its ioeventfd: none reached the VMM as an exit.
        assert dev["trapped_notifies"] == 0, dev


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_hvc0_on_a_virtio_console_port_is_the_guest_console(vireo, kvm, guest_kernel, guest_initramfs, transport):
    d = temp_dir()
    devices = [{"type": "console", "transport": transport, "backend": "stdio"}]
    # No serial console at all: everything the agent reports comes through hvc0.
    cmdline = BASE_CMDLINE.replace("console=ttyS0", "console=hvc0") + " vireo.test=smoke"
    config = write_config(d, guest_kernel, guest_initramfs, cmdline, devices, console="off")
    g = Guest([vireo, "run", "--config", config])
    rc = g.wait(timeout=140)
    report = agent.parse(g.output)
    assert rc == 0, g.output[-3000:]
    assert report.ok, report.summary() + g.output[-3000:]
    assert report.tests["smoke"][0] == "pass"
