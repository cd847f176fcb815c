"""The virtio transports guest-boot tests run their devices on: every test parametrized over
them covers both."""

TRANSPORTS = ["mmio", "pci"]
